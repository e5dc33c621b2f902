import type { CommandSource, KernelImage } from '../src';

export const TCP_SET_STATE = '0xffffffff8206b250';
export const TCP_V4_CONNECT = '0xffffffff81c3e2a0';

/** A tiny kernel: two functions with their first instructions (endbr64, push %rbp, mov %rsp,%rbp). */
export const KERNEL: KernelImage = {
  symbols: {
    tcp_set_state: { address: TCP_SET_STATE, insns: ['f30f1efa', '55', '4889e5'] },
    tcp_v4_connect: { address: TCP_V4_CONNECT, insns: ['55', '4889e5', '4154'] },
  },
};

export const BOOTS = ['6c1b2a4e-8f1d-4c7b-9a3e-2d5f7b9c1e0a', 'b7e2c1d0-3a4f-4e5d-8c6b-9a0f1e2d3c4b'];
export const INSTANCES = [
  '0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a',
  '1a2b3c4d-5e6f-4a0b-9c1d-2e3f4a5b6c7d',
  '9d8c7b6a-5f4e-4d3c-b2a1-0f9e8d7c6b5a',
];

export const SOURCE: CommandSource = {
  host: 'web-1',
  bootId: BOOTS[0] as string,
  instance: INSTANCES[0] as string,
  time: '2026-11-25T19:52:23.123456789Z',
};

/**
 * tcp_set_state as Debian 6.12 builds it (IBT, ftrace): endbr64, the ftrace site (a 5-byte nop at
 * boot), then instructions at +9, +0xc, +0xe — the offsets the kernel accepted in the lab, whose
 * kprobes/list showed +0 and +4 as one [FTRACE] kprobe at +4, +0xe [OPTIMIZED], +9 and +0xc int3.
 */
export const KERNEL_612: KernelImage = {
  ibt: true,
  symbols: {
    tcp_set_state: { address: TCP_SET_STATE, fentry: 4, insns: ['f30f1efa', '0f1f440000', '4189f4', '4154', '55', '53', '4889fb', '4883ec08'] },
    tcp_v4_connect: { address: TCP_V4_CONNECT, fentry: 4, insns: ['f30f1efa', '0f1f440000', '55', '4889e5', '4157'] },
  },
};

/** Debian 6.1: no IBT, the ftrace site at +0; the optimizer switched off (sysctl debug.kprobes-optimization=0). */
export const KERNEL_61_NOOPT: KernelImage = {
  optimization: false,
  symbols: {
    tcp_set_state: { address: TCP_SET_STATE, fentry: 0, insns: ['0f1f440000', '4189f4', '4154', '55', '53', '4889fb'] },
    tcp_v4_connect: { address: TCP_V4_CONNECT, fentry: 0, insns: ['0f1f440000', '55', '4889e5', '4157'] },
  },
};
