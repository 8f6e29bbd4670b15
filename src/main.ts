import { mount } from 'svelte';
import App from './ui/App.svelte';
import './ui/app.css';

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');
export default mount(App, { target });

// offline after the first load (production builds only; relative URL so any sub-path works)
if (import.meta.env.PROD && 'serviceWorker' in navigator && isSecureContext) {
  navigator.serviceWorker.register('./sw.js').then(async () => {
    const reg = await navigator.serviceWorker.ready;
    const urls = [location.href.split('#')[0]!, ...performance.getEntriesByType('resource').map((e) => e.name)].filter((u) => u.startsWith(location.origin));
    reg.active?.postMessage({ cache: urls });
  }, () => {
    // no service worker (private mode, file://): the page just needs the network
  });
}
