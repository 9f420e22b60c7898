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

#include "vmm/names.h"
#include "http_gate.h"

#ifndef VMSCOPE_VERSION
#define VMSCOPE_VERSION "0.1"
#endif

/* A counter as published: the sum of its increments, so a source that starts again from 0 (a
 * restarted guest) carries on from where it was. */
struct series {
	char key[128];
	uint64_t last, sum;
};

/* Blackout histogram bounds, seconds. */
static const double bo_le[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2};
#define BO_N	   (sizeof(bo_le) / sizeof(bo_le[0]))
#define SERIES_MAX 2048

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
	struct series *ser;
	unsigned nr;
	uint64_t bo_bucket[2][BO_N], bo_count[2]; /* per blackout source: capture, vmm */
	double bo_sum[2];
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

	if (!m || !(m->ser = calloc(SERIES_MAX, sizeof(*m->ser)))) {
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
		free(m->ser);
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
		free(m->ser);
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
	free(m->ser);
	free(m);
}

static struct series *lookup(struct metrics *m, const char *key)
{
	for (unsigned i = 0; i < m->nr; i++)
		if (!strcmp(m->ser[i].key, key))
			return &m->ser[i];
	return NULL;
}

/* The series for key, made at its first use; NULL once SERIES_MAX are in use. */
static struct series *series(struct metrics *m, const char *key)
{
	struct series *s = lookup(m, key);
	if (s || m->nr == SERIES_MAX)
		return s;
	s = &m->ser[m->nr++];
	snprintf(s->key, sizeof(s->key), "%s", key);
	return s;
}

/* Feeds a source's running total: the increment since the last time (all of it when the
 * source started again from 0) is added to the series, which is returned. */
static struct series *feed(struct metrics *m, const char *key, uint64_t total, uint64_t *d)
{
	struct series *s = series(m, key);
	*d = 0;
	if (!s)
		return NULL;
	*d = total >= s->last ? total - s->last : total;
	s->last = total;
	s->sum += *d;
	return s;
}

/* A counter's published value: its sum so far. */
static uint64_t counted(struct metrics *m, const char *key, uint64_t total)
{
	uint64_t d;
	struct series *s = feed(m, key, total, &d);
	return s ? s->sum : 0;
}

/* The increment of a source's running total since the last tick. */
static uint64_t delta(struct metrics *m, const char *key, uint64_t total)
{
	uint64_t d;
	feed(m, key, total, &d);
	return d;
}

/* Adds d to a counter kept here (by NIC mode, say). */
static void add(struct metrics *m, const char *key, uint64_t d)
{
	struct series *s = series(m, key);
	if (s)
		s->sum += d;
}

static bool find(struct metrics *m, const char *key, uint64_t *v)
{
	const struct series *s = lookup(m, key);
	if (s)
		*v = s->sum;
	return s != NULL;
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the exposition format wants. */
static void label(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* The vCPU's exits as the source that sees them all counts them (bpf kvm_exit off kvm_pvm, else
 * the stats fd), and those that reached the VMM. */
static void vcpu_exits(struct metrics *m, FILE *f, const struct snapshot *s)
{
	const struct named_figure *st = snapshot_find(s->stats, s->nr_stats, "exits");
	const struct named_figure *ue = snapshot_find(s->vmm, s->nr_vmm, "userspace_exits");
	const struct figure *all = s->host != HOST_PVM && s->bpf_event[KT_EXIT].valid
				       ? &s->bpf_event[KT_EXIT]
				   : st ? &st->f
					: NULL;
	char key[128];
	uint64_t d_all = all ? delta(m, "vcpu_all", all->total) : 0;
	uint64_t d_user = ue ? delta(m, "vcpu_user", ue->f.total) : 0;
	const char *mode = nic_mode_name(s->nic_mode);
	if (ue) {
		snprintf(key, sizeof(key), "vcpu:userspace:%s", mode);
		add(m, key, d_user);
	}
	if (all && ue) {
		snprintf(key, sizeof(key), "vcpu:in_kernel:%s", mode);
		add(m, key, d_all > d_user ? d_all - d_user : 0);
	}
	family(
	    f, "vmscope_vcpu_exits_total", "counter",
	    "Exits of the vCPU: reached the VMM (userspace) or handled inside KVM (in_kernel), by "
	    "the NIC in use (sources: vmm; stats fd or bpf kvm_exit minus vmm)");
	static const char *const where[] = {"userspace", "in_kernel"};
	for (unsigned w = 0; w < 2; w++)
		for (unsigned nm = 0; nm < NIC_MODE_MAX; nm++) {
			uint64_t v;
			snprintf(key, sizeof(key), "vcpu:%s:%s", where[w], nic_mode_name(nm));
			if (find(m, key, &v))
				fprintf(
				    f,
				    "vmscope_vcpu_exits_total{where=\"%s\",nic_mode=\"%s\"} %llu\n",
				    where[w], nic_mode_name(nm), (unsigned long long)v);
		}
}

/* Packets each source saw, by direction and the NIC in use when they moved. */
static void packets(struct metrics *m, FILE *f, const struct snapshot *s)
{
	const struct {
		const char *source, *dir;
		const struct figure *fig;
	} src[] = {{"guest", "tx", &s->pps_tx},
		   {"guest", "rx", &s->pps_rx},
		   {"vmm", "tx", &s->dev_tx},
		   {"vmm", "rx", &s->dev_rx},
		   {"capture", "tx", &s->cap_from_guest},
		   {"capture", "rx", &s->cap_to_guest}};
	char key[128];
	for (unsigned i = 0; s->net_on && i < sizeof(src) / sizeof(src[0]); i++) {
		if (!src[i].fig->valid)
			continue;
		snprintf(key, sizeof(key), "pkts:%s:%s", src[i].source, src[i].dir);
		uint64_t d = delta(m, key, src[i].fig->total);
		snprintf(key, sizeof(key), "pkts:%s:%s:%s", src[i].source, src[i].dir,
			 nic_mode_name(s->nic_mode));
		add(m, key, d);
	}
	family(
	    f, "vmscope_packets_total", "counter",
	    "Packets by direction (tx: from the guest), the NIC in use and the source that counted "
	    "them (guest: its driver; vmm: the card model; capture: libpcap on the TAP)");
	for (unsigned i = 0; i < sizeof(src) / sizeof(src[0]); i++)
		for (unsigned nm = 0; nm < NIC_MODE_MAX; nm++) {
			uint64_t v;
			snprintf(key, sizeof(key), "pkts:%s:%s:%s", src[i].source, src[i].dir,
				 nic_mode_name(nm));
			if (find(m, key, &v))
				fprintf(f,
					"vmscope_packets_total{direction=\"%s\",nic_mode=\"%s\","
					"source=\"%s\"} %llu\n",
					src[i].dir, nic_mode_name(nm), src[i].source,
					(unsigned long long)v);
		}
}

/* The guest's ping round trips: its log2 TSC-cycle slots as buckets, bounds in seconds. */
static void ping_histogram(struct metrics *m, FILE *f, const struct snapshot *s)
{
	if (!s->net_on || !s->tsc_khz)
		return;
	family(f, "vmscope_ping_rtt_seconds", "histogram",
	       "Round trips of the guest's pings to the peer, from its TSC (source: guest)");
	uint64_t cum = 0, count = 0, slot[HIST_SLOTS];
	char key[64];
	for (unsigned i = 0; i < HIST_SLOTS; i++) {
		snprintf(key, sizeof(key), "rtt:%u", i);
		count += slot[i] = counted(m, key, s->latency_hist[i]);
	}
	for (unsigned i = 0; i < HIST_SLOTS; i++) {
		cum += slot[i];
		double le =
		    (double)(2ull << i) / ((double)s->tsc_khz * 1e3); /* slot i: [2^i, 2^(i+1)) */
		fprintf(f, "vmscope_ping_rtt_seconds_bucket{le=\"%.9g\"} %llu\n", le,
			(unsigned long long)cum);
	}
	fprintf(f, "vmscope_ping_rtt_seconds_bucket{le=\"+Inf\"} %llu\n",
		(unsigned long long)count);
	/* The sum from the guest's average (its exact total of cycles is not in the snapshot). */
	fprintf(f, "vmscope_ping_rtt_seconds_sum %.9g\n", s->latency_avg_us / 1e6 * (double)count);
	fprintf(f, "vmscope_ping_rtt_seconds_count %llu\n", (unsigned long long)count);
}

static void switches(struct metrics *m, FILE *f, const struct snapshot *s)
{
	char key[128];
	for (unsigned i = 0; i < s->nr_events; i++) {
		const struct snap_event *e = &s->events[i];
		if (e->kind != SEV_NIC_SWITCH)
			continue;
		snprintf(key, sizeof(key), "switch:%s:%s:%s", nic_mode_name(e->from),
			 nic_mode_name(e->to),
			 e->ok	      ? "ok"
			 : e->refused ? "refused"
				      : "failed");
		add(m, key, 1);
		for (unsigned b = 0; e->ok && b < 2; b++) {
			if (!e->blackout_valid[b])
				continue;
			double sec = e->blackout_ms[b] / 1e3;
			for (unsigned j = 0; j < BO_N; j++)
				if (sec <= bo_le[j])
					m->bo_bucket[b][j]++;
			m->bo_count[b]++;
			m->bo_sum[b] += sec;
		}
	}
	add(m, "events_dropped", s->events_dropped);
	uint64_t dropped = 0;
	find(m, "events_dropped", &dropped);
	family(f, "vmscope_events_dropped_total", "counter",
	       "Events (switches, link changes) beyond the 32 a tick carries, not counted below");
	fprintf(f, "vmscope_events_dropped_total %llu\n", (unsigned long long)dropped);
	family(f, "vmscope_nic_switches_total", "counter",
	       "Live switches of the guest's network card, by cards and result");
	static const char *const res[] = {"ok", "failed", "refused"};
	for (unsigned a = NIC_MODE_EMULATED; a < NIC_MODE_MAX; a++)
		for (unsigned b = NIC_MODE_EMULATED; b < NIC_MODE_MAX; b++)
			for (unsigned r = 0; r < 3; r++) {
				uint64_t v;
				snprintf(key, sizeof(key), "switch:%s:%s:%s", nic_mode_name(a),
					 nic_mode_name(b), res[r]);
				if (find(m, key, &v))
					fprintf(f,
						"vmscope_nic_switches_total{from=\"%s\",to=\"%s\","
						"result=\"%s\"} %llu\n",
						nic_mode_name(a), nic_mode_name(b), res[r],
						(unsigned long long)v);
			}
	family(f, "vmscope_nic_switch_blackout_seconds", "histogram",
	       "The longest gap in the guest's traffic around each live switch, as the capture and "
	       "the VMM saw it");
	static const char *const src[2] = {"capture", "vmm"};
	for (unsigned b = 0; b < 2; b++) {
		for (unsigned j = 0; j < BO_N; j++)
			fprintf(f,
				"vmscope_nic_switch_blackout_seconds_bucket{source=\"%s\",le=\"%"
				"g\"} %llu\n",
				src[b], bo_le[j], (unsigned long long)m->bo_bucket[b][j]);
		fprintf(
		    f,
		    "vmscope_nic_switch_blackout_seconds_bucket{source=\"%s\",le=\"+Inf\"} %llu\n",
		    src[b], (unsigned long long)m->bo_count[b]);
		fprintf(f, "vmscope_nic_switch_blackout_seconds_sum{source=\"%s\"} %.9g\n", src[b],
			m->bo_sum[b]);
		fprintf(f, "vmscope_nic_switch_blackout_seconds_count{source=\"%s\"} %llu\n",
			src[b], (unsigned long long)m->bo_count[b]);
	}
}

/* Named counters (exit reasons) as one labelled family. */
static void named(struct metrics *m, FILE *f, const char *name, const char *help,
		  const struct named_figure *arr, unsigned nr, const char *prefix)
{
	char key[128];
	family(f, name, "counter", help);
	for (unsigned i = 0; i < nr; i++) {
		snprintf(key, sizeof(key), "%s:%s", prefix, arr[i].name);
		fprintf(f, "%s{reason=", name);
		label(f, arr[i].name);
		fprintf(f, "} %llu\n", (unsigned long long)counted(m, key, arr[i].f.total));
	}
}

static void render(struct metrics *m, FILE *f, const struct snapshot *s)
{
	char key[128];
	family(f, "vmscope_info", "gauge",
	       "What runs: vmscope's version, the host's virtualization "
	       "and the guest's CPU mode");
	fprintf(f, "vmscope_info{version=");
	label(f, VMSCOPE_VERSION);
	fprintf(f, ",host=\"%s\",cpu_mode=\"%s\"} 1\n", host_kind_name(s->host),
		cpu_mode_name(s->cpu_mode));

	family(
	    f, "vmscope_exits_total", "counter",
	    "Exits the guest's workload made, by kind and by the source that counted them (guest, "
	    "vmm, stats fd, bpf)");
	for (unsigned k = 0; k < EK_MAX; k++)
		for (unsigned src = 0; src < SRC_MAX; src++) {
			if (!s->exits[k][src].valid)
				continue;
			snprintf(key, sizeof(key), "exits:%u:%u", k, src);
			fprintf(f, "vmscope_exits_total{kind=\"%s\",source=\"%s\"} %llu\n",
				exit_kind_name(k), source_name(src),
				(unsigned long long)counted(m, key, s->exits[k][src].total));
		}
	vcpu_exits(m, f, s);
	if (s->bpf_on) {
		named(m, f, "vmscope_kvm_exit_reasons_total",
		      "kvm_exit by hardware exit reason (source: bpf; kvm_pvm has no kvm_exit)",
		      s->kexit, s->nr_kexit, "kexit");
		named(m, f, "vmscope_kvm_userspace_exit_reasons_total",
		      "kvm_userspace_exit by KVM_EXIT_* reason (source: bpf)", s->uexit,
		      s->nr_uexit, "uexit");
	}
	if (s->bpf_on && s->bpf_cost_on && s->bpf_runs.valid) { /* what watching costs */
		family(f, "vmscope_observer_bpf_runs_total", "counter",
		       "Runs of vmscope's own eBPF probes (source: the kernel's run_cnt)");
		fprintf(f, "vmscope_observer_bpf_runs_total %llu\n",
			(unsigned long long)counted(m, "cost:runs", s->bpf_runs.total));
		family(
		    f, "vmscope_observer_bpf_seconds_total", "counter",
		    "CPU time vmscope's own eBPF probes spent (source: the kernel's run_time_ns)");
		fprintf(f, "vmscope_observer_bpf_seconds_total %.9f\n",
			(double)counted(m, "cost:ns", s->bpf_run_ns.total) / 1e9);
	}
	/* Hypercalls from the closest source that counts them. */
	for (unsigned src = 0; src < SRC_MAX; src++) {
		static const enum source order[] = {SRC_BPF, SRC_STATS, SRC_VMM, SRC_GUEST};
		const struct figure *h = &s->exits[EK_HYPERCALL][order[src]];
		if (!h->valid)
			continue;
		family(f, "vmscope_hypercalls_total", "counter", "Hypercalls the guest made");
		snprintf(key, sizeof(key), "exits:%u:%u", EK_HYPERCALL, order[src]);
		fprintf(f, "vmscope_hypercalls_total{source=\"%s\"} %llu\n",
			source_name(order[src]), (unsigned long long)counted(m, key, h->total));
		break;
	}
	if (s->work.valid) {
		family(f, "vmscope_work_seconds_per_instruction", "gauge",
		       "What a plain instruction of the guest's work loop costs, fastest loop so "
		       "far: in "
		       "the guest (this CPU mode) and natively on the host");
		fprintf(f, "vmscope_work_seconds_per_instruction{where=\"guest\"} %.6g\n",
			s->work.ns_per_insn / 1e9);
		fprintf(f, "vmscope_work_seconds_per_instruction{where=\"host\"} %.6g\n",
			s->work.host_ns_per_insn / 1e9);
	}
	if (s->link_on) { /* the TAP link (absent with the in-process peer) */
		family(
		    f, "vmscope_link_up", "gauge",
		    "Whether the TAP link to the peer works (0: set down or removed from outside)");
		fprintf(f, "vmscope_link_up %d\n", s->link_state == LINK_UP);
		family(f, "vmscope_link_faults_total", "counter",
		       "Times the TAP link went down or was removed from outside");
		fprintf(f, "vmscope_link_faults_total %llu\n",
			(unsigned long long)counted(m, "link_faults", s->link_faults));
	}
	packets(m, f, s);
	ping_histogram(m, f, s);
	switches(m, f, s);
}

void metrics_publish(struct metrics *m, const struct snapshot *snap)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	render(m, f, snap);
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
