// A time-series chart (uPlot), sized to its container; the latest values are also said in
// text beside it, so the chart is not the only way to read them.

import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";

export interface Series {
  label: string;
  color: string;
  dash?: number[];
  unit?: string;
}

interface Props {
  title: string;
  series: Series[];
  /** [x (seconds), ...one array per series] */
  data: (number | null)[][];
  height?: number;
}

export function Chart({ title, series, data, height = 180 }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join("|");

  useEffect(() => {
    const element = box.current;
    if (!element) return;
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 200),
      height,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [{ stroke: "#8b93a7", grid: { stroke: "#2a3142" } }, { stroke: "#8b93a7", grid: { stroke: "#2a3142" }, size: 56 }],
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, dash: s.dash ?? [], spanGaps: true, points: { show: false } }))],
    };
    const chart = new uPlot(options, data as uPlot.AlignedData, element);
    plot.current = chart;
    const observer = new ResizeObserver(() => {
      chart.setSize({ width: Math.max(element.clientWidth, 200), height });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // rebuilt only when the series change; data flows through setData below
    // (`data` is left out on purpose)
  }, [shape, height]);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);

  const latest = series
    .map((s, i) => {
      const column = data[i + 1] ?? [];
      const value = column[column.length - 1];
      return `${s.label} ${value === null || value === undefined ? "—" : `${Math.round(value * 100) / 100}${s.unit ?? ""}`}`;
    })
    .join(", ");
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} class="chart-box" aria-hidden="true" />
      <p class="sr-only">Latest: {latest}</p>
    </figure>
  );
}
