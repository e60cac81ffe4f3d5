/**
 * The scroll area of a table wider than a phone: the page itself never scrolls sideways, this
 * region does. It is named and takes the focus, so the keyboard can scroll it too.
 */
export function ScrollRegion({ label, className = "", children }: { label: string; className?: string; children: React.ReactNode }) {
  return (
    // A scrollable region must be reachable from the keyboard (WCAG 2.1.1): hence the tab stop.
    // Positioned, so that visually hidden text in the table is placed within it, not past the page's edge.
    <div role="region" aria-label={label} tabIndex={0} className={`relative overflow-x-auto ${className}`}>
      {children}
    </div>
  );
}
