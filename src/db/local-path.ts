/** The file behind a `file:` URL; apart from ./connection.ts so that reading it loads no client. */
export function localPathOf(url: string): string | undefined {
  if (!/^file:/i.test(url)) return undefined;
  const raw = url.slice(5).split("?")[0]!;
  return decodeURIComponent(raw);
}
