/* Text that vmscope writes and shows: UTF-8 checked, cut only at a character's boundary, and
 * bytes from a file escaped before they reach a terminal. What vmscope writes, vmscope reads. */
#ifndef VMSCOPE_PROBES_TEXT_H
#define VMSCOPE_PROBES_TEXT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The length of the UTF-8 character at s (1-4 bytes, of the n there), or 0 when the bytes there
 * are not one (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF). */
static inline size_t utf8_char(const unsigned char *s, size_t n)
{
	if (!n)
		return 0;
	unsigned c = s[0];
	size_t len = c < 0x80		  ? 1
		     : (c & 0xe0) == 0xc0 ? 2
		     : (c & 0xf0) == 0xe0 ? 3
		     : (c & 0xf8) == 0xf0 ? 4
					  : 0;
	if (!len || len > n || (len == 2 && c < 0xc2) || (len == 4 && c > 0xf4))
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (len == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0)))
		return 0; /* overlong, or a surrogate */
	if (len == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90)))
		return 0; /* overlong, or past U+10FFFF */
	return len;
}

/* The offset of the first byte of s[0..n) that is not valid UTF-8, or n when all is. */
static inline size_t utf8_check(const char *s, size_t n)
{
	size_t i = 0, len;
	while (i < n && (len = utf8_char((const unsigned char *)s + i, n - i)))
		i += len;
	return i;
}

/* Copies src into dst (size n, n >= 1) whole characters only: a cut never splits one. */
static inline void utf8_copy(char *dst, size_t n, const char *src)
{
	size_t i = 0, max = n - 1;
	const unsigned char *s = (const unsigned char *)src;
	while (s[i]) {
		size_t len = utf8_char(s + i, 4);
		if (!len) {
			/* A character the string's end cut off (a lead byte, then continuation
			 * bytes to the end): dropped. Any other invalid byte is one (the JSON
			 * writer replaces it). */
			size_t k = 1;
			while (s[i + k] && (s[i + k] & 0xc0) == 0x80 && k < 4)
				k++;
			if (s[i] >= 0xc0 && !s[i + k])
				break;
			len = 1;
		}
		if (i + len > max)
			break;
		i += len;
	}
	for (size_t k = 0; k < i; k++)
		dst[k] = (char)s[k];
	dst[i] = 0;
}

/* For a message on a terminal: valid printable UTF-8 as it is, every other byte (controls,
 * escapes, invalid sequences) as \xNN. Cut to fit n. */
static inline void text_escape(char *out, size_t n, const char *in, size_t len)
{
	size_t o = 0;
	const unsigned char *s = (const unsigned char *)in;
	for (size_t i = 0; i < len && o + 5 < n;) {
		size_t c = utf8_char(s + i, len - i);
		if (c == 1 && (s[i] < 0x20 || s[i] == 0x7f))
			c = 0;
		if (c) {
			if (o + c >= n)
				break;
			for (size_t k = 0; k < c; k++)
				out[o++] = (char)s[i + k];
			i += c;
		} else {
			o += (size_t)snprintf(out + o, n - o, "\\x%02x", s[i++]);
		}
	}
	out[o < n ? o : n - 1] = 0;
}

#endif
