/* The guest's small library (lib.h): what a freestanding image needs of libc, and its console. */
#define VMSCOPE_GUEST
#include "lib.h"
#include "task.h"

void *memset(void *d, int c, unsigned long n)
{
	u8 *p = d;
	while (n--)
		*p++ = (u8)c;
	return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	u8 *p = d;
	const u8 *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

int memcmp(const void *a, const void *b, unsigned long n)
{
	const u8 *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

/* The console: a line at a time through the control page, one exit a line (PORT_CONSOLE). On
 * kvm_pvm every OUT to the 16550's data port was a trap into KVM: the banner's forty bytes
 * took over a millisecond of the boot (bench/boot). */
static u8 con_buf[CON_LINE_MAX];
static u32 con_len;

static void con_flush(void)
{
	memcpy(CTL->con_line, con_buf, con_len);
	outl(PORT_CONSOLE, con_len);
	con_len = 0;
}

/* Each character is a yield point of the background task. */
void puts(const char *s)
{
	while (*s) {
		task_point();
		u8 c = (u8)*s++;
		con_buf[con_len++] = c;
		if (c == '\n' || con_len == CON_LINE_MAX)
			con_flush();
	}
}

void put_hex(u64 v, int digits)
{
	char buf[17];
	for (int i = 0; i < digits; i++)
		buf[i] = "0123456789abcdef"[(v >> (4 * (digits - 1 - i))) & 0xf];
	buf[digits] = 0;
	puts(buf);
}

void put_dec(u64 v)
{
	char buf[21];
	int i = 20;
	buf[i] = 0;
	do
		buf[--i] = (char)('0' + v % 10);
	while (v /= 10);
	puts(buf + i);
}

/* Log every function the scan finds, as firmware would. */

/* A PCI address as bus:device.function. */
void put_bdf(u32 bdf)
{
	put_hex(bdf >> 8, 2);
	puts(":");
	put_hex((bdf >> 3) & 31, 2);
	puts(".");
	put_hex(bdf & 7, 1);
}
