/* The /metrics endpoint's door (http_gate.h): RFC 9112 section 3's request line, checked on
 * peeked bytes before libmicrohttpd takes the connection. */
#define _GNU_SOURCE
#include "http_gate.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* RFC 9110 5.6.2: the characters of a token (a method). */
static int tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

enum gate_line gate_line_check(const char *buf, size_t n)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t i = 0;
	/* RFC 9112 2.2: empty lines before the request line are ignored */
	while (i < n && (b[i] == '\r' || b[i] == '\n'))
		i++;
	if (i >= GATE_LINE_MAX)
		return GATE_LINE_BAD;
	const unsigned char *nl = memchr(b + i, '\n', n - i);
	if (!nl)
		return n - i >= GATE_LINE_MAX ? GATE_LINE_BAD : GATE_LINE_PARTIAL;
	size_t end = (size_t)(nl - b);
	if (end - i > GATE_LINE_MAX)
		return GATE_LINE_BAD;
	if (end > i && b[end - 1] == '\r')
		end--;
	size_t m = i;
	while (m < end && tchar(b[m]))
		m++;
	if (m == i || m >= end || b[m] != ' ')
		return GATE_LINE_BAD;
	size_t t = ++m;
	while (m < end && b[m] > ' ' && b[m] != 0x7f)
		m++;
	if (m == t || m >= end || b[m] != ' ')
		return GATE_LINE_BAD;
	m++;
	static const char v[] = "HTTP/";
	if (end - m != 8 || memcmp(b + m, v, 5) || b[m + 5] < '0' || b[m + 5] > '9' ||
	    b[m + 6] != '.' || b[m + 7] < '0' || b[m + 7] > '9')
		return GATE_LINE_BAD;
	return GATE_LINE_OK;
}

unsigned gate_pollfds(const struct http_gate *g, struct pollfd *p)
{
	p[0] = (struct pollfd){.fd = g->listen_fd, .events = POLLIN};
	for (unsigned i = 0; i < g->n; i++)
		p[1 + i] = (struct pollfd){.fd = g->c[i].fd, .events = POLLIN};
	return 1 + g->n;
}

/* A short answer and the connection closed; a client that is gone is nobody to tell. What it
 * sent is read first: a socket closed with unread bytes resets, and the reset can overtake the
 * answer. */
static void answer(int fd, const char *status, const char *body)
{
	char msg[256];
	for (unsigned i = 0; i < 48 && recv(fd, msg, sizeof(msg), MSG_DONTWAIT) > 0; i++)
		;
	int len = snprintf(msg, sizeof(msg),
			   "HTTP/1.1 %s\r\nConnection: close\r\nContent-Type: text/plain\r\n"
			   "Content-Length: %zu\r\n\r\n%s",
			   status, strlen(body), body);
	if (send(fd, msg, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* gone: nothing to do */
	}
	shutdown(fd, SHUT_WR);
	close(fd);
}

/* Looks at what connection c has sent: true when it is settled (passed on or closed). */
static bool look(struct http_gate *g, struct gate_conn *c,
		 void (*pass)(void *, int, const struct sockaddr *, socklen_t), void *arg)
{
	static __thread char buf[GATE_LINE_MAX + 2];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	if (n <= 0) { /* closed before a request, or reset */
		close(c->fd);
		return true;
	}
	switch (gate_line_check(buf, (size_t)n)) {
	case GATE_LINE_OK: {
		int one = 1;
		setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
		pass(arg, c->fd, (const struct sockaddr *)&c->addr, c->alen);
		return true;
	}
	case GATE_LINE_BAD:
		g->bad++;
		answer(c->fd, "400 Bad Request", "not an HTTP/1.x request line\n");
		return true;
	case GATE_LINE_PARTIAL:
	default: {
		/* Nothing more to see until more comes: poll wakes for the next byte, not
		 * again and again for the ones already peeked. */
		int more = (int)n + 1;
		setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &more, sizeof(more));
		return false;
	}
	}
}

void gate_service(struct http_gate *g, const struct pollfd *p, unsigned np, uint64_t now,
		  void (*pass)(void *arg, int fd, const struct sockaddr *sa, socklen_t len),
		  void *arg)
{
	unsigned keep = 0;
	for (unsigned i = 0; i < g->n; i++) {
		struct gate_conn *c = &g->c[i];
		bool done = false;
		if (1 + i < np && p[1 + i].fd == c->fd && p[1 + i].revents)
			done = look(g, c, pass, arg);
		if (!done && now - c->start_ns > g->deadline_ns) {
			g->late++;
			answer(c->fd, "408 Request Timeout",
			       "the request line did not come in time\n");
			done = true;
		}
		if (!done)
			g->c[keep++] = *c;
	}
	g->n = keep;
	if (!(p[0].revents & POLLIN))
		return;
	for (;;) {
		struct gate_conn c = {.alen = sizeof(c.addr), .start_ns = now};
		c.fd = accept4(g->listen_fd, (struct sockaddr *)&c.addr, &c.alen, SOCK_CLOEXEC);
		if (c.fd < 0)
			break; /* EAGAIN: all taken; another error: the next poll tries again */
		if (g->n ==
		    GATE_MAX) { /* the oldest waiting goes: idle ones cannot fill the door */
			g->evicted++;
			shutdown(g->c[0].fd, SHUT_RDWR);
			close(g->c[0].fd);
			memmove(g->c, g->c + 1, sizeof(g->c[0]) * --g->n);
		}
		g->c[g->n++] = c;
	}
}

void gate_close(struct http_gate *g)
{
	for (unsigned i = 0; i < g->n; i++)
		close(g->c[i].fd);
	g->n = 0;
}
