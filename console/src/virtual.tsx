// A list that renders only the rows in view (plus a few): a run's log of thousands of events,
// or a timeline of a thousand steps, costs the DOM a screenful of rows.

import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";

interface Props {
  count: number;
  rowHeight: number;
  /** CSS height of the scrolling viewport. */
  height: string;
  renderRow: (index: number) => ComponentChildren;
  /** Keep the last row in view as rows arrive, while the reader is at the bottom. */
  follow?: boolean;
  label: string;
  className?: string;
  /** Changes when rows change without their count changing (re-render them). */
  version?: number;
}

const OVERSCAN = 8;

export function VirtualList({ count, rowHeight, height, renderRow, follow = false, label, className = "" }: Props) {
  const viewport = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewHeight, setViewHeight] = useState(400);
  const atBottom = useRef(true);
  const frame = useRef(0);

  useEffect(() => {
    const element = viewport.current;
    if (!element) return;
    const observer = new ResizeObserver(() => {
      setViewHeight(element.clientHeight);
    });
    observer.observe(element);
    setViewHeight(element.clientHeight);
    return () => {
      observer.disconnect();
    };
  }, []);

  useLayoutEffect(() => {
    const element = viewport.current;
    if (follow && element && atBottom.current) {
      element.scrollTop = element.scrollHeight;
      setScrollTop(element.scrollTop);
    }
  }, [count, follow]);

  const onScroll = (): void => {
    const element = viewport.current;
    if (!element) return;
    atBottom.current = element.scrollTop + element.clientHeight >= element.scrollHeight - rowHeight * 1.5;
    cancelAnimationFrame(frame.current);
    frame.current = requestAnimationFrame(() => {
      setScrollTop(element.scrollTop);
    });
  };

  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - OVERSCAN);
  const last = Math.min(count, Math.ceil((scrollTop + viewHeight) / rowHeight) + OVERSCAN);
  const rows: ComponentChildren[] = [];
  for (let index = first; index < last; index++) {
    rows.push(
      <div key={index} class="vrow" role="listitem" style={{ top: `${index * rowHeight}px`, height: `${rowHeight}px` }}>
        {renderRow(index)}
      </div>,
    );
  }
  return (
    <div ref={viewport} class={`vlist ${className}`} style={{ height }} onScroll={onScroll} tabIndex={0} aria-label={label} role="list">
      <div class="vlist-inner" style={{ height: `${count * rowHeight}px` }}>
        {rows}
      </div>
    </div>
  );
}
