/* The door of the /metrics endpoint: connections are accepted here and held until their request
 * line has come whole (peeked, never consumed), so a request libmicrohttpd would drop without a
 * word (no spaces, binary garbage) gets a 400, one that never completes its line gets a 408 at
 * its deadline, and a flood of idle connections evicts its own oldest instead of the scrapes.
 * A line that parses goes on to libmicrohttpd with every byte still in the socket. */
#ifndef VMSCOPE_HTTP_GATE_H
#define VMSCOPE_HTTP_GATE_H
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define GATE_MAX      32   /* connections waiting for their request line; the oldest goes */
#define GATE_LINE_MAX 8192 /* a request line longer than this is refused (400) */

/* What the first bytes of a connection are: a whole request line (method SP target SP
 * HTTP/d.d, after any empty lines), not yet one, or not HTTP/1.x. */
enum gate_line { GATE_LINE_OK, GATE_LINE_PARTIAL, GATE_LINE_BAD };
enum gate_line gate_line_check(const char *buf, size_t n);

struct gate_conn {
	int fd;
	uint64_t start_ns;
	struct sockaddr_storage addr;
	socklen_t alen;
};

struct http_gate {
	int listen_fd; /* non-blocking */
	uint64_t deadline_ns;
	struct gate_conn c[GATE_MAX];
	unsigned n;
	uint64_t bad, late, evicted; /* answered 400, answered 408, closed for a newer one */
};

/* The caller polls p[0] (the listening socket) and p[1..n]: fills them, returns how many. */
unsigned gate_pollfds(const struct http_gate *g, struct pollfd *p);
/* Accepts what is pending, looks at what came in, answers or closes the bad and the late,
 * and passes each whole line's connection to pass() (which owns the fd from then on). */
void gate_service(struct http_gate *g, const struct pollfd *p, unsigned np, uint64_t now,
		  void (*pass)(void *arg, int fd, const struct sockaddr *sa, socklen_t len),
		  void *arg);
/* Closes every connection still waiting. */
void gate_close(struct http_gate *g);

#endif
