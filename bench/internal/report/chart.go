package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

var colors = map[string]string{Go: "#00ADD8", JS: "#E8C515", Peer: "#CE3262", Floor: "#9AA0A6", RawFloor: "#5F6368"}

var shortTitles = map[string]string{Go: "Go SDK", JS: "JS socket.io-client", Peer: "Go peer (zishang520)", Floor: "floor (coder/websocket)", RawFloor: "raw floor (net.Conn)"}

// Chart writes an SVG bar chart of the rows: one group per metric, one bar
// per client, scaled to the largest value of the group, each labelled with
// its median and its ratio to the JS client.
func Chart(w io.Writer, rows []Row, subtitle string) error {
	const (
		width   = 1100
		left    = 190 // client labels
		barMax  = 560
		barH    = 16
		gap     = 4
		groupH  = 24 + 5*(barH+gap) + 14 // five clients
		headerH = 86
	)
	height := headerH + len(rows)*groupH + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	fmt.Fprintf(&b, `<text x="16" y="26" font-size="17" font-weight="bold">messaging-go: client cost side by side (medians)</text>`+"\n")
	fmt.Fprintf(&b, `<text x="16" y="46" fill="#555">%s</text>`+"\n", html.EscapeString(subtitle))
	x := 16
	for _, cl := range Clients {
		fmt.Fprintf(&b, `<rect x="%d" y="58" width="12" height="12" fill="%s"/><text x="%d" y="69">%s</text>`+"\n", x, colors[cl.Name], x+16, html.EscapeString(shortTitles[cl.Name]))
		x += 16 + 7*len(shortTitles[cl.Name]) + 18
	}
	y := headerH
	for _, r := range rows {
		dir := "higher is better"
		if r.Better == Lower {
			dir = "lower is better"
		}
		title := fmt.Sprintf("%s, %s (%s)", r.Label, r.Unit, dir)
		if r.Target != nil {
			c := r.Target(r)
			title += " · target " + c.Text + ": " + c.Status
		}
		fmt.Fprintf(&b, `<text x="16" y="%d" font-weight="bold">%s</text>`+"\n", y+14, html.EscapeString(title))
		maxV := 0.0
		for _, cl := range Clients {
			if c := r.Cells[cl.Name]; c.OK() {
				maxV = math.Max(maxV, c.Median)
			}
		}
		by := y + 22
		for _, cl := range Clients {
			c := r.Cells[cl.Name]
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="#333">%s</text>`+"\n", left-8, by+12, html.EscapeString(shortTitles[cl.Name]))
			if !c.OK() || maxV <= 0 {
				fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#999">not measured</text>`+"\n", left, by+12)
				by += barH + gap
				continue
			}
			bw := int(math.Round(c.Median / maxV * barMax))
			bw = max(bw, 1)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", left, by, bw, barH, colors[cl.Name])
			label := num(c.Median) + " " + r.Unit
			if cl.Name != JS {
				if v := c.Median / r.Cells[JS].Median; r.Cells[JS].OK() && r.Cells[JS].Median != 0 {
					label += fmt.Sprintf("  (%.2f× JS)", v)
				}
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#222">%s</text>`+"\n", left+bw+6, by+12, html.EscapeString(label))
			by += barH + gap
		}
		y += groupH
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
