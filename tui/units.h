/* Durations and counts as people read them, for the dashboard's columns and the tour's captions
 * alike: one scale (ns, us, ms), two layouts. */
#ifndef VMSCOPE_TUI_UNITS_H
#define VMSCOPE_TUI_UNITS_H
#include <stddef.h>
#include <stdio.h>

enum units_layout {
	UNITS_COLUMN, /* fixed width, the unit attached: "   850ns", "  12.5us" */
	UNITS_TEXT,   /* in a sentence: "0.42 ns", "850 ns", "12.5 us" */
};

/* ns > 0; the caller says what none or an unmeasured figure reads as. */
static inline void units_ns(char *out, size_t n, double ns, enum units_layout layout)
{
	static const struct {
		double below, div;
		const char *unit;
	} scale[] = {{1e3, 1, "ns"}, {1e6, 1e3, "us"}, {1e300, 1e6, "ms"}};
	unsigned i = 0;
	while (i < 2 && ns >= scale[i].below)
		i++;
	double v = ns / scale[i].div;
	if (layout == UNITS_COLUMN)
		snprintf(out, n, i ? "%6.1f%s" : "%6.0f%s", v, scale[i].unit);
	else
		snprintf(out, n, ns < 1 ? "%.2f %s" : i ? "%.1f %s" : "%.0f %s", v, scale[i].unit);
}

/* A count or a rate as people read it: "850", "45.6k", "1.23M". */
static inline void units_count(char *out, size_t n, double v)
{
	if (v >= 1e6)
		snprintf(out, n, "%.2fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(out, n, "%.1fk", v / 1e3);
	else
		snprintf(out, n, "%.0f", v);
}

#endif
