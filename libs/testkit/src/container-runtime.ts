let available: Promise<boolean> | undefined;

/**
 * True when testcontainers finds a working Docker engine. Without one it rejects in a few
 * milliseconds, so asking first costs nothing. `TESTKIT_CONTAINERS=0` skips the question.
 */
export function containersAvailable(): Promise<boolean> {
  if (process.env.TESTKIT_CONTAINERS === '0') return Promise.resolve(false);
  available ??= import('testcontainers')
    .then(({ getContainerRuntimeClient }) => getContainerRuntimeClient())
    .then(
      () => true,
      () => false,
    );
  return available;
}
