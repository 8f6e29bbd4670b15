// View preferences that outlive one selection (and one page load).
const KEY = 'layerscope.prefs';

interface Prefs {
  /** the "On-disk layout" section stays open while clicking through files once opened */
  layoutOpen: boolean;
}

function load(): Prefs {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Partial<Prefs>;
    return { layoutOpen: v.layoutOpen === true };
  } catch {
    return { layoutOpen: false };
  }
}

export const prefs: Prefs = $state(load());

export function savePrefs(): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(prefs));
  } catch {
    // storage disabled: preferences last for this page only
  }
}
