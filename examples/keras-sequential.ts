/**
 * @file The tutorial's "making deep learning even simpler" section: its Keras snippet as written
 * (a Dense(32) layer on 784 inputs, relu, rmsprop, mean squared error, 10 epochs of batches of 32)
 * on random data shaped like the tutorial's, then a Keras-style MNIST classifier
 * (Dense 128 relu → Dropout → Dense 10 softmax) with a validation split and a test evaluation.
 * Run: npx tsx examples/keras-sequential.ts [--epochs 5] [--limit 60000]
 */
import { datasets, keras, manualSeed, rand } from 'tapegrad';
import { arg, knownArgs, numArg } from './args.ts';

knownArgs('epochs', 'limit');

const { Sequential, Dense, Activation, Dropout } = keras;

manualSeed(0);

// ---------------------------------------------------------------- the tutorial's snippet
//   model = Sequential()
//   model.add(Dense(32, input_dim=784))
//   model.add(Activation('relu'))
//   model.compile(optimizer='rmsprop', loss='mse')
//   model.fit(X, Y, nb_epoch=10, batch_size=32)
console.log("== the tutorial's snippet: Dense(32, inputDim 784), relu, rmsprop, mse, 10 epochs ==");
const X = rand([1000, 784]); // 1,000 random samples of 784 features
const Y = rand([1000, 32]); // and random targets for the 32 outputs

const model = new Sequential();
model.add(new Dense(32, { inputDim: 784 }));
model.add(new Activation('relu'));
model.compile({ optimizer: 'rmsprop', loss: 'mse' });
const history = await model.fit(X, Y, { epochs: 10, batchSize: 32 });
const losses = history.history.loss;
console.log(`snippet: mse loss ${losses[0]!.toFixed(4)} (epoch 1) -> ${losses[losses.length - 1]!.toFixed(4)} (epoch ${losses.length})`);

// ---------------------------------------------------------------- a Keras-style MNIST classifier
const epochs = numArg('epochs', 5);
const limit = arg('limit') === undefined ? undefined : numArg('limit', 60_000);
console.log('\n== a Keras-style MNIST classifier ==');
const train = await datasets.mnist({ split: 'train', limit });
const test = await datasets.mnist({ split: 'test' });
const flat = (images: typeof train.images) => images.reshape(images.shape[0]!, 784);

const clf = new Sequential({ name: 'mnist_mlp' });
clf.add(new Dense(128, { inputDim: 784, activation: 'relu' }));
clf.add(new Dropout(0.2));
clf.add(new Dense(10, { activation: 'softmax' }));
clf.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
clf.summary();

await clf.fit(flat(train.images), train.labels, { epochs, batchSize: 32, validationSplit: 0.1 });
// compile()'s jitCompile 'auto' (the default): fit ran the training step compiled by jit
const step = clf.trainFunction;
if (step) console.log(`fit's training step ran compiled: ${step.stats.traces} trace${step.stats.traces === 1 ? '' : 's'} for ${step.stats.calls} steps, ${step.lower(flat(train.images.narrow(0, 0, 32)), train.labels.narrow(0, 0, 32)).launches} kernel launches each (compile with jitCompile: false to train eagerly)`);
const result = await clf.evaluate(flat(test.images), test.labels, { batchSize: 1000 });
console.log(`test loss ${result.loss.toFixed(4)}, test accuracy ${(result.accuracy! * 100).toFixed(2)}%`);

// predictions for the first test digits
const probs = clf.predict(flat(test.images.narrow(0, 0, 10)));
const predicted = Array.from(probs.argmax(1).dataSync());
console.log(`first 10 test digits: predicted ${predicted.join(' ')}, labels ${Array.from(test.labels.narrow(0, 0, 10).dataSync()).join(' ')}`);
