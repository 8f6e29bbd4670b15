/** Lower-case hex of bytes (the one copy the application layer and the workers use). */
export { hex } from '../bytes.ts';
