/* 16550 UART subset (PC16550D datasheet, register map at 8.0): enough for a polled transmitter. */
#include "vmm/serial.h"

#include <string.h>

#define LCR_DLAB   0x80
#define LSR_THRE   0x20
#define LSR_TEMT   0x40
#define IIR_NO_INT 0x01

void serial_init(struct serial *s, serial_line_fn sink, void *opaque)
{
	memset(s, 0, sizeof(*s));
	s->sink = sink;
	s->opaque = opaque;
}

static void serial_flush(struct serial *s)
{
	s->line[s->len] = 0;
	s->sink(s->line, s->opaque);
	s->len = 0;
}

static void serial_tx(struct serial *s, uint8_t c)
{
	s->tx_bytes++;
	if (c == '\r')
		return;
	if (c == '\n') {
		serial_flush(s);
		return;
	}
	s->line[s->len++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	if (s->len == SERIAL_LINE_MAX)
		serial_flush(s);
}

void serial_write(struct serial *s, const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		serial_tx(s, buf[i]);
}

int serial_io(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque)
{
	struct serial *s = opaque;
	uint8_t *v = data;
	bool dlab = s->lcr & LCR_DLAB;

	if (len != 1) {
		if (!is_write)
			memset(data, 0xff, len);
		return -22; /* -EINVAL: the UART has byte registers only */
	}
	if (is_write) {
		switch (addr) {
		case 0:
			if (dlab)
				s->dll = *v;
			else
				serial_tx(s, *v);
			break;
		case 1:
			if (dlab)
				s->dlm = *v;
			else
				s->ier = *v & 0x0f;
			break;
		case 3: s->lcr = *v; break;
		case 4: s->mcr = *v & 0x1f; break;
		case 7: s->scr = *v; break;
		default: break; /* FCR, LSR, MSR writes: ignored */
		}
		return 0;
	}
	switch (addr) {
	case 0: *v = dlab ? s->dll : 0; break;
	case 1: *v = dlab ? s->dlm : s->ier; break;
	case 2: *v = IIR_NO_INT; break;
	case 3: *v = s->lcr; break;
	case 4: *v = s->mcr; break;
	case 5: *v = LSR_THRE | LSR_TEMT; break;
	case 6: *v = 0xb0; break; /* DCD, DSR, CTS */
	default: *v = s->scr; break;
	}
	return 0;
}
