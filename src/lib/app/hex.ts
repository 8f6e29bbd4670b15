/** Lower-case hex of bytes (the one copy the application layer and the workers use). */
export { bytesToHex as hex } from '@noble/hashes/utils.js';
