/** Props a test can change after mounting (a `$state` proxy the component reads). */
export function liveProps<T extends Record<string, unknown>>(initial: T): T {
  const props = $state(initial);
  return props;
}
