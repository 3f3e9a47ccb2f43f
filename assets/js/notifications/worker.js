// The page's side of the service worker (/sw.js): registering it, finding it,
// and hearing from it when one of its notifications was clicked.

/** Whether this browser can run service workers here (they need a secure context: https or localhost). */
export function workerSupported() {
  return 'serviceWorker' in navigator && window.isSecureContext;
}

/**
 * Registers /sw.js for the whole site and waits until it is active (a push
 * subscription and `showNotification` need an active worker).
 */
export async function registerWorker() {
  await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  return navigator.serviceWorker.ready;
}

/**
 * The active registration if the worker was registered before (in this or an
 * earlier visit), else null. Never registers, never waits for one.
 */
export async function activeRegistration() {
  if (!workerSupported()) return null;
  try {
    const registration = await navigator.serviceWorker.getRegistration('/');
    return registration?.active ? registration : null;
  } catch {
    return null;
  }
}

/**
 * Calls `handler({ room, message })` when the worker asks this tab to open a
 * room (a notification was clicked; the worker already focused the tab).
 * Returns a function that stops listening.
 */
export function onOpenRequest(handler) {
  if (!workerSupported()) return () => {};
  const listener = (event) => {
    const data = event.data;
    if (data?.type === 'confab:open' && typeof data.room === 'string') {
      handler({ room: data.room, message: typeof data.message === 'string' ? data.message : null });
    }
  };
  navigator.serviceWorker.addEventListener('message', listener);
  return () => navigator.serviceWorker.removeEventListener('message', listener);
}
