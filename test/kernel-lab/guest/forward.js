// Guest side of the lab's network (BootOptions.network.forward), run by the host's node in the guest:
// usage: forward.js TARGET PORT... -- serves each PORT at the guest's 127.0.0.1 and pipes every
// connection to TARGET:PORT (10.0.2.2: qemu user-mode networking's way to the host's loopback), so a
// config can say 127.0.0.1:PORT in the guest as on the host (a Kafka broker advertises that address).
// Prints "listening PORT..." once every port listens.
'use strict';
const net = require('node:net');

const [target, ...ports] = process.argv.slice(2);
if (!target || ports.length === 0 || ports.some((p) => !/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535)) {
  console.error('usage: forward.js TARGET PORT...');
  process.exit(2);
}
let listening = 0;
for (const port of ports.map(Number)) {
  net.createServer((guest) => {
    const host = net.connect(port, target);
    guest.pipe(host).pipe(guest);
    // Either side closing or failing ends both: the client sees the broker's connection drop.
    const end = () => { guest.destroy(); host.destroy(); };
    guest.on('error', end).on('close', end);
    host.on('error', end).on('close', end);
  }).listen(port, '127.0.0.1', () => {
    if (++listening === ports.length) console.log(`listening ${ports.join(' ')}`);
  }).on('error', (err) => {
    console.error(`forward.js: port ${port}: ${err.message}`);
    process.exit(1);
  });
}
