// A harness user that dies: makes a two-node network, prints its prefix, then
// `throw`s (an uncaught error) or waits for a signal. netns.test.ts checks that its exit
// hooks removed everything it made.

import { VirtualNetwork } from './netns.js';

const how = process.argv[2];
const net = await VirtualNetwork.create([{ name: 'a', upMbit: 10 }, { name: 'b', downMbit: 10 }]);
process.stdout.write(`${JSON.stringify({ prefix: net.prefix })}\n`);
net.spawn('a', 'sleep', ['600'], { stdio: 'ignore' });
if (how === 'throw') {
  setTimeout(() => { throw new Error('the harness user failed'); }, 10);
} else {
  setInterval(() => undefined, 1000);
}
