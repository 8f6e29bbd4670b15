/**
 * A compression worker, started by the builder worker (a nested dedicated worker) for EROFS `-z`
 * builds: messages in and out, the compressing is src/lib/app/build-zpool.ts zFilesServer (the
 * CLI's compress threads run the same function).
 */
import { zFilesServer, type ZFilesJob, type ZMore } from '../src/lib/app/build-zpool.ts';

// a dedicated worker's postMessage(message, { transfer }) (the DOM typings name the window's)
const serve = zFilesServer((m, transfer) => postMessage(m, { transfer }));
addEventListener('message', (e: MessageEvent<ZFilesJob | ZMore>) => serve(e.data));
