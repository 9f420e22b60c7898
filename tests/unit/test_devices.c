/* The I/O bus and the 16550 subset: dispatch, overlaps, garbage from the guest. */
#include <errno.h>
#include <string.h>

#include "tests/harness.h"
#include "vmm/iobus.h"
#include "vmm/log.h"
#include "vmm/serial.h"
#include "vmm/vmm.h"

static unsigned hits;
static int count_hit(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque)
{
	hits++;
	*(uint64_t *)opaque = addr;
	return 0;
}

TEST(iobus_dispatches_by_space_and_refuses_overlaps)
{
	struct iobus bus = {0};
	uint64_t last = ~0ull;
	uint32_t v = 0;

	CHECK(iobus_register(&bus, IO_PIO, 0x3f8, 8, count_hit, &last) == 0);
	CHECK(iobus_register(&bus, IO_PIO, 0x3fc, 8, count_hit, &last) == -EBUSY);
	CHECK(iobus_register(&bus, IO_MMIO, 0x3f8, 8, count_hit, &last) == 0); /* other space */
	CHECK(iobus_register(&bus, IO_PIO, ~0ull - 2, 8, count_hit, &last) == -EINVAL);
	CHECK(iobus_register(&bus, IO_PIO, 0x10, 0, count_hit, &last) == -EINVAL);
	hits = 0;
	CHECK(iobus_dispatch(&bus, IO_PIO, 0x3fd, &v, 1, false) == 0 && last == 5 && hits == 1);
	v = 0;
	CHECK(iobus_dispatch(&bus, IO_PIO, 0x400, &v, 4, false) == -ENOENT);
	CHECK(v == 0xffffffff); /* an unclaimed read floats high */
	CHECK(iobus_dispatch(&bus, IO_MMIO, 0x400, &v, 4, true) == -ENOENT && hits == 1);
}

TEST(iobus_fills_up_without_overflowing)
{
	struct iobus bus = {0};
	uint64_t last;
	for (unsigned i = 0; i < IOBUS_MAX_RANGES; i++)
		CHECK(iobus_register(&bus, IO_MMIO, 0x1000ull * i, 0x1000, count_hit, &last) == 0);
	CHECK(iobus_register(&bus, IO_MMIO, 0x100000, 0x1000, count_hit, &last) == -ENOSPC);
	CHECK(bus.nr == IOBUS_MAX_RANGES);
}

static char got[8][SERIAL_LINE_MAX + 1];
static unsigned nr_got;
static void sink(const char *line, void *opaque)
{
	if (nr_got < 8)
		strcpy(got[nr_got++], line);
}

static void uart_puts(struct serial *s, const char *str)
{
	for (; *str; str++) {
		uint8_t c = (uint8_t)*str;
		serial_io(0, &c, 1, true, s);
	}
}

TEST(serial_collects_lines_and_bounds_garbage)
{
	struct serial s;
	uint8_t v;
	uint32_t wide = 0x41414141;

	nr_got = 0;
	serial_init(&s, sink, NULL);
	uart_puts(&s, "vmscope guest\r\nsecond\x01line\n");
	CHECK(nr_got == 2 && !strcmp(got[0], "vmscope guest") && !strcmp(got[1], "second?line"));
	for (int i = 0; i < SERIAL_LINE_MAX + 5; i++)
		uart_puts(&s, "x");
	CHECK(nr_got == 3 && strlen(got[2]) == SERIAL_LINE_MAX); /* a long line is cut, not grown */
	CHECK(serial_io(5, &v, 1, false, &s) == 0 && (v & 0x60) == 0x60); /* LSR: THR empty */
	CHECK(serial_io(0, &wide, 4, true, &s) < 0);			  /* no 32-bit registers */
	v = 0x80;
	serial_io(3, &v, 1, true, &s); /* DLAB: port 0 is the divisor, not the transmitter */
	v = 12;
	serial_io(0, &v, 1, true, &s);
	CHECK(s.dll == 12 && s.len == 5);
}

TEST(vlog_keeps_the_newest_lines_in_order)
{
	struct vlog log;
	char out[4][VLOG_LINE_MAX];

	REQUIRE(vlog_init(&log, NULL) == 0);
	for (int i = 0; i < VLOG_LINES + 10; i++)
		vlog(&log, "line %d", i);
	CHECK(vlog_tail(&log, out, 4) == 4);
	CHECK(!strcmp(out[0], "line 134") && !strcmp(out[3], "line 137"));
	vlog_close(&log);
}

TEST(exit_kind_and_cpu_mode_names_round_trip)
{
	uint32_t k;
	enum cpu_mode m;
	for (uint32_t i = 0; i <= EK_ALL; i++)
		CHECK(exit_kind_parse(exit_kind_name(i), &k) == 0 && k == i);
	for (int i = CPU_AUTO; i < CPU_MODE_MAX; i++)
		CHECK(cpu_mode_parse(cpu_mode_name(i), &m) == 0 && (int)m == i);
	CHECK(exit_kind_parse("pio", &k) == -EINVAL);
	CHECK(strstr(kvm_open_strerror(-ENOENT), "/dev/kvm does not exist"));
	CHECK(strstr(kvm_open_strerror(-EACCES), "no permission"));
}
