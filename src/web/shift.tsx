/** The shift report (issue #20, item 3). */
export function ShiftReport(_: { query: URLSearchParams }) {
  return <section class="shift" />;
}
