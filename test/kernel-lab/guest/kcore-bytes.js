'use strict';
// Runs INSIDE the guest (host node via inhost, as root): prints the live kernel text at addresses.
//   node test/kernel-lab/guest/kcore-bytes.js 0xffffffff81c00c34 ... > bytes.json
// /proc/kcore is an ELF core of the kernel's memory: each PT_LOAD program header maps a virtual
// range to a file offset; reading there reads the running text (what text_poke / ftrace wrote).
const fs = require('node:fs');

const PT_LOAD = 1;
const fd = fs.openSync('/proc/kcore', 'r');
// kcore's file offsets follow the kernel's virtual addresses: past 2^53, so positions are bigints.
const read = (at, n) => {
  const b = Buffer.alloc(n);
  fs.readSync(fd, b, 0, n, BigInt(at));
  return b;
};
const eh = read(0, 64);
if (eh.toString('latin1', 0, 4) !== '\x7fELF' || eh[4] !== 2) throw new Error('/proc/kcore is not an ELF64 core');
const phoff = eh.readBigUInt64LE(32);
const phentsize = eh.readUInt16LE(54);
const phnum = eh.readUInt16LE(56);
const loads = [];
for (let i = 0; i < phnum; i++) {
  const ph = read(phoff + BigInt(i * phentsize), phentsize);
  if (ph.readUInt32LE(0) !== PT_LOAD) continue;
  loads.push({ offset: ph.readBigUInt64LE(8), vaddr: ph.readBigUInt64LE(16), filesz: ph.readBigUInt64LE(32) });
}
const out = {};
for (const arg of process.argv.slice(2)) {
  const a = BigInt(arg);
  const seg = loads.find((l) => a >= l.vaddr && a + 16n <= l.vaddr + l.filesz);
  out[arg] = seg === undefined ? null : read(seg.offset + (a - seg.vaddr), 16).toString('hex');
}
process.stdout.write(JSON.stringify(out) + '\n');
