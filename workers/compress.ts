/**
 * A compression worker, started by the builder worker (a nested dedicated worker) for EROFS `-z`
 * builds: messages in and out, the compressing is src/lib/app/build-zpool.ts zFilesServer (the
 * CLI's compress threads run the same function).
 */
import { zFilesServer, type ZFilesJob, type ZMore } from '../src/lib/app/build-zpool.ts';

// a dedicated worker's postMessage(message) (the DOM typings name the window's, which wants a target origin)
const serve = zFilesServer((m) => postMessage(m, {}));
addEventListener('message', (e: MessageEvent<ZFilesJob | ZMore>) => serve(e.data));
