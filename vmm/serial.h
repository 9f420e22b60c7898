/* A 16550 UART subset on 0x3f8: transmit only; each completed line goes to a sink. */
#ifndef VMSCOPE_SERIAL_H
#define VMSCOPE_SERIAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERIAL_LINE_MAX 120

typedef void (*serial_line_fn)(const char *line, void *opaque);

struct serial {
	uint8_t ier, lcr, mcr, scr, dll, dlm;
	char line[SERIAL_LINE_MAX + 1];
	unsigned len;
	uint64_t tx_bytes;
	serial_line_fn sink;
	void *opaque;
};

void serial_init(struct serial *s, serial_line_fn sink, void *opaque);
int serial_io(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque);
/* Bytes the guest sent by another way (its paravirtual console line): the same line
 * discipline and counts as the UART's transmitter. */
void serial_write(struct serial *s, const uint8_t *buf, size_t n);

#endif
