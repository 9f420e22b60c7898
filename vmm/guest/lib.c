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

/* Each character is an exit to the VMM's serial port: a yield point of the background task. */
void puts(const char *s)
{
	while (*s) {
		task_point();
		outb(PORT_SERIAL, (u8)*s++);
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
