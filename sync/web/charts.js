// Hand-drawn SVG charts for the dashboard: horizontal bars and a histogram. Built with DOM
// calls (no innerHTML), so labels from the data are always text.
"use strict";

const svgNamespace = "http://www.w3.org/2000/svg";

function svgElement(name, attributes, text) {
  const element = document.createElementNS(svgNamespace, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

// rows: [{label, values: [number, ...]}]; one bar per value (classes bar, bar-2), scaled to the
// largest value; format(value) writes the number at the bar's end.
function barChart(rows, format, legend) {
  const rowHeight = 22 * Math.max(1, rows[0] ? rows[0].values.length : 1) + 6;
  const width = 320, labelWidth = 100, height = rows.length * rowHeight + (legend ? 22 : 4);
  const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  const largest = Math.max(1e-9, ...rows.flatMap((row) => row.values.map((value) => Math.abs(value))));
  rows.forEach((row, index) => {
    const top = index * rowHeight;
    svg.append(svgElement("text", { x: 0, y: top + 15 }, row.label));
    row.values.forEach((value, series) => {
      const length = (width - labelWidth - 70) * Math.abs(value) / largest;
      const y = top + series * 22;
      svg.append(svgElement("rect", { x: labelWidth, y: y + 3, width: Math.max(1, length), height: 18,
                                      class: series === 0 ? "bar" : "bar-2" }));
      svg.append(svgElement("text", { x: labelWidth + length + 4, y: y + 16 }, format(value)));
    });
  });
  if (legend) {
    legend.forEach((name, series) => {
      const x = labelWidth + series * 100;
      svg.append(svgElement("rect", { x, y: height - 16, width: 12, height: 12, class: series === 0 ? "bar" : "bar-2" }));
      svg.append(svgElement("text", { x: x + 16, y: height - 6 }, name));
    });
  }
  return svg;
}

// values: numbers; `bins` equal-width bins between the smallest and largest value.
function histogram(values, bins, format) {
  const width = 320, height = 180, bottom = 26, left = 30;
  const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  if (values.length === 0) {
    svg.append(svgElement("text", { x: 10, y: 20 }, "no values"));
    return svg;
  }
  const low = Math.min(...values), high = Math.max(...values);
  const step = (high - low) / bins || 1;
  const counts = new Array(bins).fill(0);
  for (const value of values) counts[Math.min(bins - 1, Math.floor((value - low) / step))] += 1;
  const most = Math.max(...counts);
  const barWidth = (width - left) / bins;
  counts.forEach((count, index) => {
    const barHeight = (height - bottom - 10) * count / most;
    const x = left + index * barWidth;
    svg.append(svgElement("rect", { x: x + 1, y: height - bottom - barHeight, width: barWidth - 2,
                                    height: Math.max(0, barHeight), class: "bar" }));
    if (count > 0) svg.append(svgElement("text", { x: x + 2, y: height - bottom - barHeight - 2 }, String(count)));
  });
  for (let index = 0; index <= bins; index += Math.max(1, Math.floor(bins / 5))) {
    svg.append(svgElement("text", { x: left + index * barWidth - 10, y: height - 10 }, format(low + index * step)));
  }
  svg.append(svgElement("text", { x: 0, y: 12 }, "members"));
  return svg;
}

window.Charts = { barChart, histogram };
