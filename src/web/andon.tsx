/** The big-screen line view for the andon display (issue #20, item 3). */
export function Andon() {
  return <section class="andon" />;
}
