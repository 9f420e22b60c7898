/* The Prometheus endpoint: each published snapshot is rendered once into the exposition text,
 * which the HTTP thread hands out under a lock. */
#define _GNU_SOURCE
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/clock.h"
#include <time.h>
#include <stdio.h>

#include "http_gate.h"
#include "tui/exposition.h"

/* A connection from accept on: its request must be whole within REQUEST_DEADLINE_MS. */
struct conn {
	int fd;
	uint64_t start_ns;
	bool answered;
	struct conn *next;
};
#define REQUEST_DEADLINE_MS 2000
#define PENDING_MAX	    32 /* requests still coming in; a new one evicts the oldest past it */

struct metrics {
	struct MHD_Daemon *httpd;
	pthread_t reaper;
	bool reaper_running, stop;
	struct http_gate gate; /* the reaper's: connections until their request line is whole */
	struct conn *conns;    /* under lock */
	unsigned pending;
	int fd;
	unsigned port;
	pthread_mutex_t lock;
	char *text; /* the exposition, under lock */
	size_t len;
	struct exposition *x; /* the renderer's counters: the front end's thread only */
};

int metrics_parse_listen(const char *spec, char *addr, size_t addrlen, unsigned *port, char *err,
			 size_t errlen)
{
	const char *colon = strrchr(spec, ':'), *p = colon ? colon + 1 : spec;
	char *end;
	struct in_addr ia;
	errno = 0;
	unsigned long v = strtoul(p, &end, 10);
	if (!*p || *end || errno || v > 65535 || *p == '-') {
		snprintf(err, errlen,
			 "--listen wants [ADDR:]PORT with PORT from 0 to 65535 (like 9464 "
			 "or 127.0.0.1:9464), not '%s'",
			 spec);
		return -1;
	}
	snprintf(addr, addrlen, "%.*s", colon ? (int)(colon - spec) : 9,
		 colon ? spec : "127.0.0.1");
	if (inet_pton(AF_INET, addr, &ia) != 1) {
		snprintf(err, errlen,
			 "--listen wants an IPv4 address before the port (like 127.0.0.1:9464), "
			 "not '%s'",
			 spec);
		return -1;
	}
	*port = (unsigned)v;
	return 0;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_size, void **state)
{
	struct metrics *m = cls;
	struct MHD_Response *r;
	unsigned status = MHD_HTTP_OK;
	static const char not_found[] = "vmscope serves /metrics only\n";

	static const char not_allowed[] = "vmscope answers GET and HEAD only\n";
	static const char starting[] = "vmscope is starting: the first tick has not come yet\n";

	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn *cn = ci ? ci->socket_context : NULL;
	if (cn) { /* the request is whole: no deadline on its answer */
		pthread_mutex_lock(&m->lock);
		if (!cn->answered && m->pending)
			m->pending--;
		cn->answered = true;
		pthread_mutex_unlock(&m->lock);
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		r = MHD_create_response_from_buffer(sizeof(not_allowed) - 1, (char *)not_allowed,
						    MHD_RESPMEM_PERSISTENT);
		if (r)
			MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	} else if (!strcmp(url, "/metrics")) {
		pthread_mutex_lock(&m->lock);
		if (m->text) {
			r = MHD_create_response_from_buffer(m->len, m->text, MHD_RESPMEM_MUST_COPY);
			if (r)
				MHD_add_response_header(r, "Content-Type",
							"text/plain; version=0.0.4; charset=utf-8");
		} else { /* never an empty 200: Prometheus would see a target up with no series */
			status = MHD_HTTP_SERVICE_UNAVAILABLE;
			r = MHD_create_response_from_buffer(sizeof(starting) - 1, (char *)starting,
							    MHD_RESPMEM_PERSISTENT);
			if (r)
				MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		}
		pthread_mutex_unlock(&m->lock);
	} else {
		status = MHD_HTTP_NOT_FOUND;
		r = MHD_create_response_from_buffer(sizeof(not_found) - 1, (char *)not_found,
						    MHD_RESPMEM_PERSISTENT);
	}
	if (!r)
		return MHD_NO;
	/* One request a connection: the deadline below then covers every request. */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Every connection is known from accept on, so that a slow one can be cut. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct metrics *m = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct conn *cn = calloc(1, sizeof(*cn));
		if (!cn || !ci) {
			free(cn);
			return;
		}
		cn->fd = ci->connect_fd;
		cn->start_ns = clock_ns(CLOCK_MONOTONIC);
		pthread_mutex_lock(&m->lock);
		/* Slow requests cannot fill the server: past PENDING_MAX the oldest one goes. */
		if (m->pending >= PENDING_MAX) {
			struct conn *old = NULL;
			for (struct conn *o = m->conns; o; o = o->next)
				if (!o->answered && (!old || o->start_ns < old->start_ns))
					old = o;
			if (old) {
				shutdown(old->fd, SHUT_RDWR);
				old->answered = true;
				m->pending--;
			}
		}
		cn->next = m->conns;
		m->conns = cn;
		m->pending++;
		pthread_mutex_unlock(&m->lock);
		*socket_context = cn;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
		struct conn *cn = *socket_context;
		pthread_mutex_lock(&m->lock);
		for (struct conn **p = &m->conns; *p; p = &(*p)->next)
			if (*p == cn) {
				*p = cn->next;
				break;
			}
		if (!cn->answered && m->pending)
			m->pending--;
		pthread_mutex_unlock(&m->lock);
		free(cn);
		*socket_context = NULL;
	}
}

static void pass_on(void *arg, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct metrics *m = arg;
	if (MHD_add_connection(m->httpd, fd, sa, len) != MHD_YES) {
		/* libmicrohttpd closed it (its connection limit): the client sees the close */
	}
}

/* The door and the deadline: a connection's request line must come whole within the deadline
 * from accept (http_gate.c), and the rest of its request within the deadline from there,
 * whatever it trickles in: the ones that do not are cut (an idle timeout alone is reset by
 * every byte). */
static void *reaper_thread(void *arg)
{
	struct metrics *m = arg;
	struct pollfd p[1 + GATE_MAX];
	while (!__atomic_load_n(&m->stop, __ATOMIC_ACQUIRE)) {
		unsigned np = gate_pollfds(&m->gate, p);
		if (poll(p, np, 100) < 0 && errno != EINTR)
			break;
		uint64_t now = clock_ns(CLOCK_MONOTONIC);
		gate_service(&m->gate, p, np, now, pass_on, m);
		pthread_mutex_lock(&m->lock);
		for (struct conn *c = m->conns; c; c = c->next)
			if (!c->answered && now - c->start_ns > REQUEST_DEADLINE_MS * 1000000ull) {
				shutdown(c->fd, SHUT_RDWR);
				c->answered = true;
				if (m->pending)
					m->pending--;
			}
		pthread_mutex_unlock(&m->lock);
	}
	return NULL;
}

int metrics_open(struct metrics **out, const char *addr, unsigned port, char *err, size_t errlen)
{
	struct metrics *m = calloc(1, sizeof(*m));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t sl = sizeof(sa);
	int one = 1;

	if (!m || !(m->x = exposition_new())) {
		free(m);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	inet_pton(AF_INET, addr, &sa.sin_addr);
	/* Our own socket: a taken port is told as such, and port 0 gets a free one. */
	m->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (m->fd < 0 || setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(m->fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(m->fd, 16) ||
	    getsockname(m->fd, (struct sockaddr *)&sa, &sl)) {
		snprintf(err, errlen, "cannot listen on %s:%u for --listen: %s", addr, port,
			 strerror(errno));
		if (m->fd >= 0)
			close(m->fd);
		exposition_free(m->x);
		free(m);
		return -1;
	}
	m->port = ntohs(sa.sin_port);
	pthread_mutex_init(&m->lock, NULL);
	m->gate =
	    (struct http_gate){.listen_fd = m->fd, .deadline_ns = REQUEST_DEADLINE_MS * 1000000ull};
	if (fcntl(m->fd, F_SETFL, O_NONBLOCK) < 0) {
		/* accept4 then blocks only when a client vanishes between poll and accept */
	}
	m->httpd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL,
	    serve, m, MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, m, MHD_OPTION_END);
	if (m->httpd && pthread_create(&m->reaper, NULL, reaper_thread, m) == 0)
		m->reaper_running = true;
	if (!m->httpd) {
		snprintf(err, errlen, "cannot serve --listen on %s:%u: libmicrohttpd did not start",
			 addr, m->port);
		close(m->fd);
		exposition_free(m->x);
		free(m);
		return -1;
	}
	*out = m;
	return 0;
}

unsigned metrics_port(const struct metrics *m)
{
	return m->port;
}

void metrics_close(struct metrics *m)
{
	if (!m)
		return;
	__atomic_store_n(&m->stop, true, __ATOMIC_RELEASE);
	if (m->reaper_running)
		pthread_join(m->reaper, NULL);
	gate_close(&m->gate);
	MHD_stop_daemon(m->httpd);
	close(m->fd);
	pthread_mutex_destroy(&m->lock);
	free(m->text);
	exposition_free(m->x);
	free(m);
}

void metrics_publish(struct metrics *m, const struct snapshot *snap)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	exposition_render(m->x, f, snap);
	if (fclose(f)) {
		free(text);
		return;
	}
	pthread_mutex_lock(&m->lock);
	char *old = m->text;
	m->text = text;
	m->len = len;
	pthread_mutex_unlock(&m->lock);
	free(old);
}

void metrics_write(struct metrics *m, FILE *f)
{
	pthread_mutex_lock(&m->lock);
	if (m->text)
		fwrite(m->text, 1, m->len, f);
	pthread_mutex_unlock(&m->lock);
}
