/* The network side of a session: link or loopback peer, backend, and the poller thread. */
#define _GNU_SOURCE
#include "net.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>

#include "vmm/clock.h"
#include "vmm/thread.h"
#include <unistd.h>

static void on_wake(void *opaque, uint64_t count)
{
	(void)count;
	struct net *n = opaque;
	pthread_mutex_lock(&n->lock);
	if (n->call && !n->call_done) {
		n->call_ret = n->call(n, n->call_arg);
		n->call_done = true;
		pthread_cond_broadcast(&n->cond);
	}
	pthread_mutex_unlock(&n->lock);
}

/* A polling card (port.poll) keeps the thread spinning while it finds work and for a while
 * after, as a NIC's engine watches its doorbells. Then, when every polling card agrees
 * (port.idle: it will be woken), the thread sleeps until a frame, a watch or a call wakes it,
 * NET_SLEEP_US at most: the engine costs CPU in proportion to its work. The while adapts to
 * the gaps it meets: a sleep shorter than four spins would have cost little more spun through
 * (a flood's gaps, a guest preempted on a loaded machine), so the spin doubles, up to
 * NET_SPIN_MAX_NS; a sleep sixteen times longer than the spin halves it (a paced guest: one
 * wake-up a packet costs less than spinning through its gaps); and a window of NET_WINDOW_NS
 * in which the cards moved fewer than NET_WINDOW_FRAMES frames (no flood) brings it back to
 * the least. A card that cannot be woken is napped on, NET_NAP_US at a time (a doorbell
 * written during a nap waits). */
#define NET_SPIN_MIN_NS	  20000ull
#define NET_SPIN_MAX_NS	  2000000ull
#define NET_WINDOW_NS	  10000000ull
#define NET_WINDOW_FRAMES 100 /* 10k frames a second */
#define NET_NAP_US	  50
#define NET_SLEEP_US	  100000

static uint64_t adapt_spin(uint64_t spin, uint64_t slept)
{
	if (slept < 4 * spin)
		return spin * 2 < NET_SPIN_MAX_NS ? spin * 2 : NET_SPIN_MAX_NS;
	if (slept > 16 * spin)
		return spin / 2 > NET_SPIN_MIN_NS ? spin / 2 : NET_SPIN_MIN_NS;
	return spin;
}

/* Every polling card may sleep. */
static bool ports_idle(struct net *n)
{
	bool idle = true;
	for (unsigned i = 0; i < NET_PORTS; i++) {
		struct net_port *port = &n->be->port[i];
		if (port->poll && !(port->idle && port->idle(port->opaque)))
			idle = false;
	}
	return idle;
}

static void *poller(void *arg)
{
	struct net *n = arg;
	uint64_t last_work = 0, spin = NET_SPIN_MIN_NS;
	uint64_t window_start = 0;
	unsigned window_frames = 0; /* frames the cards moved in the window */
	prctl(PR_SET_NAME, "vmscope-net");
	thread_short_slice();
	prctl(PR_SET_TIMERSLACK, 1000ul); /* naps of 50 us, not 50 us + the default 50 us slack */
	while (!__atomic_load_n(&n->stop, __ATOMIC_ACQUIRE)) {
		bool polling = false;
		unsigned moved = 0;
		for (unsigned i = 0; i < NET_PORTS; i++) {
			struct net_port *port = &n->be->port[i];
			if (port->poll) {
				polling = true;
				moved += port->poll(port->opaque);
			}
		}
		bool work = moved > 0;
		if (!polling) {
			n->be->ops->poll(n->be, true, 100000);
			continue;
		}
		uint64_t now = mono_ns();
		if (work) {
			last_work = now;
			window_frames += moved;
		}
		if (now - window_start >= NET_WINDOW_NS) {
			if (window_frames < NET_WINDOW_FRAMES)
				spin = NET_SPIN_MIN_NS;
			window_start = now;
			window_frames = 0;
		}
		if (now - last_work < spin) {
			n->be->ops->poll(n->be, false, 0);
			/* The card's silicon is a thread on the host's cores: a turn that found no
			 * work lets whatever waits for this core run (a kworker finishing the SRCU
			 * grace period of the vCPU's ioctl), or it waits for the scheduler's tick.
			 */
			if (!work)
				sched_yield();
		} else if (ports_idle(n)) {
			n->be->ops->poll(n->be, true, NET_SLEEP_US);
			uint64_t woke = mono_ns();
			spin = adapt_spin(spin, woke - now);
			last_work = woke - spin / 2; /* a short look around before sleeping again */
		} else {
			n->be->ops->poll(n->be, true, NET_NAP_US);
		}
	}
	return NULL;
}

uint64_t net_thread_cpu_ns(const struct net *n)
{
	return n->running ? thread_cpu_ns(n->thread) : 0;
}

int net_call(struct net *n, int (*fn)(struct net *n, void *arg), void *arg)
{
	uint64_t one = 1;
	int r;

	if (!n->running || pthread_equal(pthread_self(), n->thread))
		return fn(n, arg);
	pthread_mutex_lock(&n->lock);
	while (n->call)
		pthread_cond_wait(&n->cond, &n->lock);
	n->call = fn;
	n->call_arg = arg;
	n->call_done = false;
	if (write(n->wake_fd, &one, sizeof(one)) < 0) {
		/* saturated: a wake-up is pending anyway */
	}
	while (!n->call_done)
		pthread_cond_wait(&n->cond, &n->lock);
	r = n->call_ret;
	n->call = NULL;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	return r;
}

static int do_attach(struct net *n, void *arg)
{
	const struct net_port *port = arg;
	struct net_backend *be = n->be;
	for (unsigned i = 0; i < NET_PORTS; i++)
		if (!be->port[i].opaque) {
			be->port[i] = *port;
			net_backend_port_added(be, i);
			return 0;
		}
	return -EBUSY;
}

static int do_gap_watch(struct net *n, void *arg)
{
	if (arg)
		memcpy(n->be->gap_mac, arg, 6);
	else
		memset(n->be->gap_mac, 0, 6);
	return 0;
}

void net_gap_watch(struct net *n, const uint8_t *mac)
{
	net_call(n, do_gap_watch, (void *)mac);
}

int net_attach(struct net *n, const struct net_port *port)
{
	return net_call(n, do_attach, (void *)port);
}

static int do_detach(struct net *n, void *owner)
{
	for (unsigned i = 0; i < NET_WATCH_MAX; i++) {
		struct net_watch *w = &n->be->watch[i];
		if (w->used && w->opaque == owner && w->fd != n->wake_fd)
			n->be->ops->unwatch(n->be, w->fd);
	}
	struct net_backend *be = n->be;
	for (unsigned i = 0; i < NET_PORTS; i++)
		if (be->port[i].opaque == owner)
			net_backend_port_gone(be, i);
	return 0;
}

void net_detach(struct net *n, void *owner)
{
	net_call(n, do_detach, owner);
}

struct watch_req {
	int fd;
	net_watch_fn fn;
	void *opaque;
};

static int do_watch(struct net *n, void *arg)
{
	struct watch_req *w = arg;
	return n->be->ops->watch(n->be, w->fd, w->fn, w->opaque);
}

int net_watch(struct net *n, int fd, net_watch_fn fn, void *opaque)
{
	struct watch_req w = {fd, fn, opaque};
	return net_call(n, do_watch, &w);
}

struct attach_card_req {
	const struct net_port *port;
	const struct net_card_watch *w;
	unsigned nr;
};

static int do_attach_card(struct net *n, void *arg)
{
	const struct attach_card_req *a = arg;
	for (unsigned i = 0; i < a->nr; i++) {
		int r = a->w[i].fd < 0
			    ? 0
			    : n->be->ops->watch(n->be, a->w[i].fd, a->w[i].fn, a->port->opaque);
		if (r)
			return r;
	}
	return do_attach(n, (void *)a->port);
}

/* One call to the network thread for the card's watches and its port: the vCPU thread, which
 * hot-adds the card between two KVM_RUNs, waits for that thread once (under a CPU hog each wait
 * can be the scheduler's tick). */
int net_attach_card(struct net *n, const struct net_port *port, const struct net_card_watch *w,
		    unsigned nr)
{
	struct attach_card_req a = {port, w, nr};
	return net_call(n, do_attach_card, &a);
}

int net_open(struct net **out, const char **why)
{
	struct net *n = calloc(1, sizeof(*n));
	const char *link_why = NULL;
	int r;

	if (!n)
		return -ENOMEM;
	n->wake_fd = -1;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	if (link_open(&n->link, &link_why) == 0) {
		n->have_link = true;
		r = tap_uring_create(&n->be, n->link.tap_fd);
		*why = "io_uring could not be set up for the TAP link";
	} else {
		n->why = link_why;
		r = loopback_create(&n->be);
		*why = "the loopback network backend could not be created";
	}
	if (r)
		goto err;
	*why = "the network thread could not be started";
	n->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (n->wake_fd < 0) {
		r = -errno;
		goto err;
	}
	r = n->be->ops->watch(n->be, n->wake_fd, on_wake, n);
	if (r)
		goto err;
	r = -pthread_create(&n->thread, NULL, poller, n);
	if (r)
		goto err;
	n->running = true;
	*why = NULL;
	*out = n;
	return 0;
err:
	net_close(n);
	return r;
}

void net_close(struct net *n)
{
	if (!n)
		return;
	if (n->running) {
		uint64_t one = 1;
		__atomic_store_n(&n->stop, true, __ATOMIC_RELEASE);
		if (write(n->wake_fd, &one, sizeof(one)) < 0) {
			/* saturated: a wake-up is pending anyway */
		}
		pthread_join(n->thread, NULL);
	}
	if (n->be)
		n->be->ops->destroy(n->be);
	if (n->wake_fd >= 0)
		close(n->wake_fd);
	if (n->have_link)
		link_close(&n->link);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

const char *net_backend_name(const struct net *n)
{
	return n->be->ops->name;
}

void net_read_peer(struct net *n, struct link_counters *out)
{
	if (n->have_link)
		link_read_counters(&n->link, out);
	else
		loopback_read_counters(n->be, out);
}

void net_drive(struct net *n, unsigned i, struct link_target t, const pthread_t *vcpu)
{
	pthread_t vm[2];
	unsigned nvm = 0;
	if (vcpu)
		vm[nvm++] = *vcpu;
	if (n->running)
		vm[nvm++] = n->thread;
	if (n->have_link)
		link_drive(&n->link, i, t, vm, nvm);
}
