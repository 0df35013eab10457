package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"strings"
	"time"
	"unicode"
)

// The chart's geometry, in pixels.
const (
	chartWidth   = 1000
	chartHeight  = 560
	marginLeft   = 90
	marginRight  = 40
	marginTop    = 70
	marginBottom = 80
	fontScale    = 2 // each font pixel is fontScale x fontScale
)

var (
	white          = color.RGBA{255, 255, 255, 255}
	black          = color.RGBA{30, 30, 30, 255}
	gridGray       = color.RGBA{225, 225, 225, 255}
	markGray       = color.RGBA{120, 120, 120, 255}
	legitimateBlue = color.RGBA{31, 119, 180, 255}
	fraudulentRed  = color.RGBA{214, 39, 40, 255}
)

// series is one line of the chart: a cumulative count over time.
type series struct {
	label  string
	color  color.RGBA
	events []time.Duration // sorted
}

// chartInput is what the chart shows.
type chartInput struct {
	title      string
	series     []series
	end        time.Duration // right edge of the x axis
	attackEnds time.Duration // a vertical mark; 0 for none
	ceiling    int           // a horizontal mark (the fraud budget); 0 for none
	ceilingTag string
}

// signaturesChart builds the chart of signatures accepted over time.
func signaturesChart(r *results) chartInput {
	var legit, fraud []time.Duration
	for _, a := range r.scenario.Stats.acceptances {
		if a.class == fraudulent {
			fraud = append(fraud, a.at)
		} else {
			legit = append(legit, a.at)
		}
	}
	st := r.scenario.Stats
	return chartInput{
		title: "SIGNATURES ACCEPTED OVER TIME",
		series: []series{
			{label: fmt.Sprintf("LEGITIMATE: %d OF %d", len(legit), st.attempted(legitimate)), color: legitimateBlue, events: legit},
			{label: fmt.Sprintf("FRAUDULENT: %d OF %d ATTEMPTED", len(fraud), st.attempted(fraudulent)), color: fraudulentRed, events: fraud},
		},
		end:        r.scenario.Elapsed,
		attackEnds: r.cfg.duration,
		ceiling:    fraudBudget(),
		ceilingTag: fmt.Sprintf("FRAUD BUDGET: %d HOSTING ASNS X %d/HOUR", len(hostingNetworks), hostingBudgetPerHour),
	}
}

// renderChart draws the chart as a PNG.
func renderChart(in chartInput) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, chartWidth, chartHeight))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
	plot := image.Rect(marginLeft, marginTop, chartWidth-marginRight, chartHeight-marginBottom)

	xStep := niceStep(max(in.end.Seconds(), 1))
	// The axis ends on the tick at or after the end, unless the end is
	// only a hair past a tick (a 60 s attack that took 60.03 s).
	xMax := math.Ceil(max(in.end.Seconds(), 1)*0.99/xStep) * xStep
	yTop := in.ceiling
	for _, s := range in.series {
		yTop = max(yTop, len(s.events))
	}
	yStep := niceStep(float64(max(yTop, 1)) * 1.1)
	yMax := math.Ceil(float64(max(yTop, 1))*1.1/yStep) * yStep
	px := func(sec float64) int { return plot.Min.X + int(sec/xMax*float64(plot.Dx())) }
	py := func(v float64) int { return plot.Max.Y - int(v/yMax*float64(plot.Dy())) }

	// Grid, ticks and their labels.
	for v := 0.0; v <= yMax+yStep/2; v += yStep {
		y := py(v)
		hline(img, plot.Min.X, plot.Max.X, y, gridGray, 1)
		label := trimFloat(v)
		drawText(img, plot.Min.X-10-textWidth(label), y-textHeight()/2, label, black)
	}
	for v := 0.0; v <= xMax+xStep/100; v += xStep {
		x := px(v)
		vline(img, x, plot.Min.Y, plot.Max.Y, gridGray, 1)
		label := trimFloat(v)
		drawText(img, x-textWidth(label)/2, plot.Max.Y+10, label, black)
	}

	// Marks: the budget and the end of the attack; their labels go on top
	// of the lines, below.
	type label struct {
		x, y int
		text string
	}
	var labels []label
	if in.ceiling > 0 {
		y := py(float64(in.ceiling))
		dashedHLine(img, plot.Min.X, plot.Max.X, y, markGray)
		labels = append(labels, label{plot.Max.X - textWidth(in.ceilingTag) - 6, y - textHeight() - 6, in.ceilingTag})
	}
	if in.attackEnds > 0 && in.attackEnds.Seconds() <= xMax {
		const tag = "ATTACK ENDS"
		x := px(in.attackEnds.Seconds())
		dashedVLine(img, x, plot.Min.Y, plot.Max.Y, markGray)
		tx := x + 6
		if tx+textWidth(tag) > plot.Max.X {
			tx = x - 6 - textWidth(tag)
		}
		labels = append(labels, label{tx, plot.Min.Y + 6, tag})
	}

	// The lines: step functions of the cumulative counts.
	for _, s := range in.series {
		x0, y0 := px(0), py(0)
		for i, at := range s.events {
			x1, y1 := px(min(at.Seconds(), xMax)), py(float64(i+1))
			line(img, x0, y0, x1, y0, s.color, 3)
			line(img, x1, y0, x1, y1, s.color, 3)
			x0, y0 = x1, y1
		}
		line(img, x0, y0, px(min(in.end.Seconds(), xMax)), y0, s.color, 3)
	}

	for _, l := range labels {
		bg := image.Rect(l.x-3, l.y-3, l.x+textWidth(l.text)+1, l.y+textHeight()+3)
		draw.Draw(img, bg, image.NewUniform(white), image.Point{}, draw.Src)
		drawText(img, l.x, l.y, l.text, markGray)
	}

	// Axes, title, axis names and the legend on top.
	hline(img, plot.Min.X, plot.Max.X, plot.Max.Y, black, 2)
	vline(img, plot.Min.X, plot.Min.Y, plot.Max.Y, black, 2)
	drawText(img, (chartWidth-textWidth(in.title))/2, 20, in.title, black)
	drawText(img, plot.Min.X, plot.Min.Y-textHeight()-12, "SIGNATURES", black)
	xName := "SECONDS SINCE THE ATTACK BEGAN"
	drawText(img, plot.Min.X+(plot.Dx()-textWidth(xName))/2, plot.Max.Y+40, xName, black)
	legendWidth := 0
	for _, s := range in.series {
		legendWidth = max(legendWidth, textWidth(s.label))
	}
	lx, ly := plot.Min.X+16, plot.Min.Y+12
	box := image.Rect(lx-8, ly-8, lx+36+legendWidth+8, ly+len(in.series)*(textHeight()+10)-2)
	draw.Draw(img, box, image.NewUniform(white), image.Point{}, draw.Src)
	rect(img, box, markGray)
	for i, s := range in.series {
		y := ly + i*(textHeight()+10)
		line(img, lx, y+textHeight()/2, lx+26, y+textHeight()/2, s.color, 4)
		drawText(img, lx+36, y, s.label, black)
	}

	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	return buf.Bytes(), nil
}

// niceStep returns a tick step of 1, 2 or 5 times a power of ten that cuts
// span into about six to ten parts.
func niceStep(span float64) float64 {
	raw := span / 8
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*pow {
			return max(m*pow, 1)
		}
	}
	return max(10*pow, 1)
}

func trimFloat(v float64) string { return fmt.Sprintf("%.0f", v) }

// set paints a square of side w centred on (x, y).
func set(img *image.RGBA, x, y int, c color.RGBA, w int) {
	draw.Draw(img, image.Rect(x-w/2, y-w/2, x-w/2+w, y-w/2+w), image.NewUniform(c), image.Point{}, draw.Src)
}

// line draws from (x0, y0) to (x1, y1) with Bresenham's algorithm.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, w int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for range dx - dy + 1 {
		set(img, x0, y0, c, w)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA, w int) { line(img, x0, y, x1, y, c, w) }
func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA, w int) { line(img, x, y0, x, y1, c, w) }

func dashedHLine(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x < x1; x += 12 {
		line(img, x, y, min(x+6, x1), y, c, 2)
	}
}

func dashedVLine(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y < y1; y += 12 {
		line(img, x, y, x, min(y+6, y1), c, 2)
	}
}

func rect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	hline(img, r.Min.X, r.Max.X, r.Min.Y, c, 1)
	hline(img, r.Min.X, r.Max.X, r.Max.Y, c, 1)
	vline(img, r.Min.X, r.Min.Y, r.Max.Y, c, 1)
	vline(img, r.Max.X, r.Min.Y, r.Max.Y, c, 1)
}

func abs(v int) int { return max(v, -v) }

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// textWidth and textHeight measure a label in pixels.
func textWidth(s string) int { return len([]rune(s)) * 6 * fontScale }
func textHeight() int        { return 7 * fontScale }

// drawText writes s with its top-left corner at (x, y).
func drawText(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for i, r := range []rune(strings.ToUpper(s)) {
		g := glyphs[unicode.ToUpper(r)]
		for row := range 7 {
			for col := range 5 {
				if g[row]&(0x10>>col) == 0 {
					continue
				}
				px := x + (i*6+col)*fontScale
				py := y + row*fontScale
				draw.Draw(img, image.Rect(px, py, px+fontScale, py+fontScale), image.NewUniform(c), image.Point{}, draw.Src)
			}
		}
	}
}
