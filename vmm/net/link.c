/* The host-side link: namespace, TAP, addresses and peer, set up with plain syscalls. */
#define _GNU_SOURCE
#include "link.h"
#include "vmm/clock.h"
#include "vmm/counters.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The path still names the namespace we created (a name removed, then made again by hand,
 * names another). */
static bool names_ours(const struct link *l)
{
	struct stat sb;
	return !stat(l->netns_path, &sb) && sb.st_dev == l->ns_dev && sb.st_ino == l->ns_ino;
}

static int remove_netns(const char *path)
{
	umount2(path, MNT_DETACH);
	return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}

/* The lock file of a namespace name. */
static void lock_path(char *out, size_t n, const char *name)
{
	snprintf(out, n, LINK_LOCK_DIR "/%s.lock", name);
}

/* Namespaces whose holder is gone: provably vmscope's (a lock file of ours names them) and
 * provably dead (nobody holds that lock any more: the kernel let go when the holder died, kill
 * -9 too). A vmscope-* namespace without a lock is nobody we know of, and stays. */
int link_reap_stale(void)
{
	DIR *d = opendir(LINK_LOCK_DIR);
	struct dirent *e;
	int reaped = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char name[64], lock[128], path[128];
		size_t len = strlen(e->d_name);
		if (strncmp(e->d_name, LINK_NETNS_PREFIX, strlen(LINK_NETNS_PREFIX)) || len < 6 ||
		    len - 5 >= sizeof(name) || strcmp(e->d_name + len - 5, ".lock"))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(len - 5), e->d_name);
		lock_path(lock, sizeof(lock), name);
		int fd = open(lock, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			snprintf(path, sizeof(path), LINK_NETNS_DIR "/%s", name);
			if (remove_netns(path) == 0)
				reaped++;
			unlink(lock);
		}
		close(fd); /* a live holder keeps its lock: we never had it */
	}
	closedir(d);
	return reaped;
}

/* A namespace name no live vmscope holds, claimed for this link: vmscope-<pid>, then
 * vmscope-<pid>-2, ... (two vmscopes in two PID namespaces can share a pid). The claim is the
 * lock, held until link_close. A namespace of that name that a dead holder left is removed; one
 * that was there without a lock is not ours, and another name is taken. */
static int claim_name(struct link *l)
{
	if (mkdir(LINK_LOCK_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	for (int k = 1; k <= 64; k++) {
		char name[32], lock[96], path[64];
		struct stat st;
		if (k == 1)
			snprintf(name, sizeof(name), LINK_NETNS_PREFIX "%d", (int)getpid());
		else
			snprintf(name, sizeof(name), LINK_NETNS_PREFIX "%d-%d", (int)getpid(), k);
		lock_path(lock, sizeof(lock), name);
		snprintf(path, sizeof(path), LINK_NETNS_DIR "/%s", name);
		int fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		bool fresh = fd >= 0;
		if (!fresh)
			fd = open(lock, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			close(fd); /* a live vmscope holds this name */
			continue;
		}
		if (lstat(path, &st) == 0) {
			if (fresh) { /* a namespace nobody's lock names: not ours to remove */
				unlink(lock);
				close(fd);
				continue;
			}
			remove_netns(path); /* its holder died: we hold its lock now */
		}
		l->lock_fd = fd;
		snprintf(l->netns, sizeof(l->netns), "%s", name);
		snprintf(l->netns_path, sizeof(l->netns_path), "%s", path);
		return 0;
	}
	return -EEXIST;
}

static int set_ifaddr(int s, const char *ifname, unsigned long req, uint32_t addr)
{
	struct ifreq ifr = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(addr);
	return ioctl(s, req, &ifr) < 0 ? -errno : 0;
}

static int set_up(int s, const char *ifname)
{
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

static int udp_socket(uint16_t port)
{
	struct sockaddr_in a = {
	    .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(LINK_PEER_IP)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The sink must take floods: a deep receive queue (root may exceed rmem_max). */
	int rcvbuf = 8 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

struct setup {
	struct link *l;
	int err;
	const char *why;
};

/* Runs on a thread of its own: unshare() moves only this thread into the new namespace, and
 * every fd it opens there (TAP, sockets) keeps working from any thread afterwards. */
static void *setup_in_netns(void *arg)
{
	struct setup *st = arg;
	struct link *l = st->l;
	struct ifreq ifr = {0};
	int s = -1, fd;

	st->why = "the network namespace could not be created";
	if (unshare(CLONE_NEWNET) < 0)
		goto err;
	fd = open(l->netns_path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		goto err;
	close(fd);
	if (mount("/proc/thread-self/ns/net", l->netns_path, "none", MS_BIND, NULL) < 0)
		goto err;
	struct stat sb;
	if (stat(l->netns_path, &sb) < 0)
		goto err;
	l->ns_dev = sb.st_dev;
	l->ns_ino = sb.st_ino;

	st->why = "the TAP device could not be created in the namespace";
	l->tap_fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (l->tap_fd < 0)
		goto err;
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", LINK_TAP);
	if (ioctl(l->tap_fd, TUNSETIFF, &ifr) < 0)
		goto err;

	/* No IPv6 on the link: router solicitations would only be noise in the guest's counts. */
	fd = open("/proc/sys/net/ipv6/conf/" LINK_TAP "/disable_ipv6", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0) {
			/* a kernel without IPv6: nothing to silence */
		}
		close(fd);
	}
	st->why = "the link's addresses could not be set";
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || set_up(s, "lo") || set_ifaddr(s, LINK_TAP, SIOCSIFADDR, LINK_PEER_IP) ||
	    set_ifaddr(s, LINK_TAP, SIOCSIFNETMASK, ~0u << (32 - LINK_PREFIX)) ||
	    set_up(s, LINK_TAP))
		goto err;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", LINK_TAP);
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		goto err;
	memcpy(l->peer_mac, ifr.ifr_hwaddr.sa_data, 6);

	st->why = "the peer's UDP sockets could not be bound in the namespace";
	l->echo_fd = udp_socket(LINK_PORT_ECHO);
	l->sink_fd = udp_socket(LINK_PORT_SINK);
	l->client_fd = udp_socket(0);
	if (l->echo_fd < 0 || l->sink_fd < 0 || l->client_fd < 0)
		goto err;
	close(s);
	st->err = 0;
	return NULL;
err:
	st->err = errno ? -errno : -EIO;
	if (s >= 0)
		close(s);
	return NULL;
}

#define SINK_BATCH  64 /* datagrams the sink takes a call */
#define SINK_NAP_MS 1  /* how long a flood may wait in the sink's queue */
/* A flood: datagrams a millisecond from which the sink is read on the clock. Below it the peer
 * waits on the sink and takes each datagram as it comes: a neighbour's few thousand a second
 * then cost the CPUs a few us each, not a read of many every millisecond. */
#define SINK_FLOOD_PER_MS 50

/* Counts what waits in the sink's queue; how many datagrams it took. */
static unsigned drain_sink(struct link *l, uint8_t *buf)
{
	static __thread struct mmsghdr m[SINK_BATCH];
	static __thread struct iovec iov[SINK_BATCH];
	static __thread struct sockaddr_in from[SINK_BATCH];
	unsigned took = 0;
	int n;

	do {
		for (unsigned i = 0; i < SINK_BATCH; i++) {
			/* the payload is not read: every datagram lands in the same bytes */
			iov[i] = (struct iovec){buf, 65536};
			m[i].msg_hdr = (struct msghdr){.msg_name = &from[i],
						       .msg_namelen = sizeof(from[i]),
						       .msg_iov = &iov[i],
						       .msg_iovlen = 1};
		}
		n = recvmmsg(l->sink_fd, m, SINK_BATCH, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++) {
			uint32_t vm = ntohl(from[i].sin_addr.s_addr) - LINK_GUEST_IP;
			CNT_ADD(l->cnt.sink_rx_bytes, m[i].msg_len);
			if (vm < LINK_VMS)
				CNT_ADD(l->cnt.sink_vm[vm], 1);
		}
		if (n > 0) {
			CNT_ADD(l->cnt.sink_rx, (uint64_t)n);
			took += (unsigned)n;
		}
	} while (n == SINK_BATCH);
	return took;
}

/* The peer: echoes what reaches port 7 at once, counts what reaches port 9. While the sink is
 * flooded (SINK_FLOOD_PER_MS or more over the last millisecond or longer) it is read every
 * SINK_NAP_MS instead of waited on: a socket nobody sleeps on costs its writer no wake-up, and a
 * flood's writer here is the VMM's network thread (the TAP's receive path runs in its write). */
static void *peer_thread(void *arg)
{
	struct link *l = arg;
	static __thread uint8_t buf[65536];
	struct pollfd p[3] = {
	    {l->echo_fd, POLLIN, 0}, {l->stop_fd, POLLIN, 0}, {l->sink_fd, POLLIN, 0}};
	bool flooded = false;
	uint64_t window = mono_ns(), taken = 0;

	prctl(PR_SET_NAME, "vmscope-peer");

	while (poll(p, flooded ? 2 : 3, flooded ? SINK_NAP_MS : -1) >= 0 || errno == EINTR) {
		if (p[1].revents)
			break;
		for (;;) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(l->echo_fd, buf, sizeof(buf), 0,
					     (struct sockaddr *)&from, &fl);
			if (n < 0)
				break;
			CNT_ADD(l->cnt.echo_rx, 1);
			if (sendto(l->echo_fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl) ==
			    n)
				CNT_ADD(l->cnt.echo_tx, 1);
		}
		taken += drain_sink(l, buf);
		uint64_t now = mono_ns(), span = now - window;
		if (span >= 1000000) {
			flooded = taken * 1000000 >= SINK_FLOOD_PER_MS * span;
			window = now;
			taken = 0;
		}
	}
	return NULL;
}

static void drain_echoes(struct link *l, uint8_t *buf)
{
	ssize_t n;
	while ((n = recv(l->client_fd, buf, 65536, 0)) >= 16) {
		uint64_t sent;
		memcpy(&sent, buf + 8, 8);
		CNT_ADD(l->cnt.drive_echoes, 1);
		CNT_ADD(l->cnt.drive_rtt_ns, mono_ns() - sent);
	}
}

#define DRIVE_BURST 32 /* datagrams of at most 1472 bytes, side by side in the thread's buffer */

/* The driver's own view of one guest's drive: what it last saw asked, its stream's next
 * sequence number and, paced, when the next burst is due. */
struct drive_state {
	struct link_target t;
	uint64_t seq, next;
};

static struct link_target target_load(const struct link *l, unsigned i)
{
	const struct link_target *t = &l->target[i];
	struct link_target v;
	v.what = __atomic_load_n(&t->what, __ATOMIC_ACQUIRE);
	v.rate = __atomic_load_n(&t->rate, __ATOMIC_RELAXED);
	v.size = __atomic_load_n(&t->size, __ATOMIC_RELAXED);
	v.burst = __atomic_load_n(&t->burst, __ATOMIC_RELAXED);
	return v;
}

/* One burst of datagrams to guest i, each with its sequence number and the time: how many went.
 * An unpaced flood goes out DRIVE_BURST to a sendmmsg, as a traffic generator would: one
 * syscall each made the peer, not the reader or the card, the limit of bench/modes' rx rows. */
static int drive_burst(struct link *l, unsigned i, struct drive_state *d, uint8_t *buf)
{
	const struct link_target *t = &d->t;
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port =
				     htons(t->what == LINK_FLOOD ? LINK_PORT_SINK : LINK_PORT_ECHO),
				 .sin_addr.s_addr = htonl(LINK_GUEST_IP + i)};
	uint64_t now = mono_ns();
	uint32_t size = t->size < 16 ? 16 : t->size > 1472 ? 1472 : t->size;
	unsigned burst = t->what != LINK_FLOOD	  ? 1
			 : !t->rate		  ? DRIVE_BURST
			 : t->burst < 1		  ? 1
			 : t->burst > DRIVE_BURST ? DRIVE_BURST
						  : t->burst;
	struct iovec iov[DRIVE_BURST];
	struct mmsghdr mm[DRIVE_BURST];
	for (unsigned k = 0; k < burst; k++) {
		uint8_t *b = buf + k * 1472;
		uint64_t s = d->seq + k;
		memcpy(b, &s, 8);
		memcpy(b + 8, &now, 8);
		iov[k] = (struct iovec){b, size};
		mm[k] = (struct mmsghdr){.msg_hdr = {.msg_name = &to,
						     .msg_namelen = sizeof(to),
						     .msg_iov = &iov[k],
						     .msg_iovlen = 1}};
	}
	int sent = sendmmsg(l->client_fd, mm, burst, 0);
	if (sent > 0) {
		d->seq += (unsigned)sent;
		CNT_ADD(l->cnt.drive_tx[i], (uint64_t)sent);
	}
	if (t->rate) { /* a period per datagram: the rate stays the rate */
		d->next += (uint64_t)burst * (1000000000ull / t->rate);
		if (now > d->next + 1000000000ull)
			d->next = now; /* a second behind: no catch-up burst */
	}
	return sent < (int)burst ? -1 : sent;
}

/* The peer's own traffic towards the guests: for each, a paced or unpaced stream of datagrams
 * that carry a sequence number and a timestamp, the guests taken in turn. */
static void *driver_thread(void *arg)
{
	struct link *l = arg;
	static __thread uint8_t buf[65536];
	struct drive_state d[LINK_VMS] = {0};
	struct pollfd p[2] = {{l->client_fd, POLLIN, 0}, {l->stop_fd, POLLIN, 0}};

	prctl(PR_SET_NAME, "vmscope-drive");
	_Static_assert(DRIVE_BURST * 1472 <= sizeof(buf), "a burst fits the buffer");

	for (;;) {
		uint64_t now = mono_ns(), wake = UINT64_MAX;
		bool active = false, full = false, echo_wait = false;
		for (unsigned i = 0; i < LINK_VMS; i++) {
			struct link_target t = target_load(l, i);
			if (memcmp(&t, &d[i].t, sizeof(t))) { /* a new drive starts now */
				d[i].t = t;
				d[i].next = now;
			}
			if (t.what == LINK_QUIET)
				continue;
			active = true;
			if (t.rate && d[i].next > now + 20000) {
				wake = d[i].next < wake ? d[i].next : wake;
				continue;
			}
			full |= drive_burst(l, i, &d[i], buf) < 0; /* queue full, or no ARP yet */
			echo_wait |= t.what == LINK_ECHO && !t.rate;
			wake = !t.rate ? now : d[i].next < wake ? d[i].next : wake;
		}
		if (!active) {
			if (poll(&p[1], 1, 50) > 0)
				break;
			drain_echoes(l, buf);
			continue;
		}
		if (poll(&p[1], 1, 0) > 0)
			break;
		if (full)
			poll(p, 1, 1); /* let it drain */
		if (echo_wait) {
			/* closed loop: wait for this echo (up to a second) */
			if (poll(p, 1, 1000) > 0)
				drain_echoes(l, buf);
			continue;
		}
		drain_echoes(l, buf);
		now = mono_ns();
		if (wake != UINT64_MAX && wake > now + 20000) {
			struct timespec ts = {(time_t)((wake - now) / 1000000000ull),
					      (long)((wake - now) % 1000000000ull)};
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

_Static_assert(sizeof(cpu_set_t) == sizeof(((struct link *)0)->cpus), "link.cpus is a cpu_set_t");

/* The CPUs at link_open, and the peer's: the last of them, when there are two or more. */
static void take_cpus(struct link *l)
{
	cpu_set_t *all = (cpu_set_t *)l->cpus;
	l->peer_cpu = -1;
	if (sched_getaffinity(0, sizeof(*all), all) || CPU_COUNT(all) < 2)
		return;
	for (int c = CPU_SETSIZE - 1; c >= 0 && l->peer_cpu < 0; c--)
		if (CPU_ISSET(c, all))
			l->peer_cpu = c;
}

/* Best effort: a thread that cannot move (gone, or a cgroup's cpuset) stays where it is. */
static void place(struct link *l, bool apart, const pthread_t *vm, unsigned nvm)
{
	cpu_set_t *all = (cpu_set_t *)l->cpus, peer, rest = *all;
	if (l->peer_cpu < 0 || !l->driver_running)
		return;
	CPU_ZERO(&peer);
	CPU_SET(l->peer_cpu, &peer);
	CPU_CLR(l->peer_cpu, &rest);
	for (unsigned i = 0; i < nvm; i++)
		pthread_setaffinity_np(vm[i], sizeof(rest), apart ? &rest : all);
	pthread_setaffinity_np(l->driver, sizeof(peer), apart ? &peer : all);
}

void link_drive(struct link *l, unsigned i, struct link_target t, const pthread_t *vm, unsigned nvm)
{
	if (i >= LINK_VMS)
		return;
	struct link_target *to = &l->target[i];
	__atomic_store_n(&to->what, LINK_QUIET, __ATOMIC_RELEASE); /* no half-changed drive */
	__atomic_store_n(&to->rate, t.rate, __ATOMIC_RELAXED);
	__atomic_store_n(&to->size, t.size, __ATOMIC_RELAXED);
	__atomic_store_n(&to->burst, t.burst, __ATOMIC_RELAXED);
	__atomic_store_n(&to->what, t.what, __ATOMIC_RELEASE);
	if (!i)
		place(l, t.what == LINK_FLOOD, vm, nvm);
}

enum link_state link_health(const struct link *l, char *why, size_t n)
{
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", LINK_TAP);
	if (!names_ours(l)) {
		snprintf(why, n,
			 "the network namespace %s was removed from outside (ip netns del): the "
			 "link can no longer be reached by its name",
			 l->netns);
		return LINK_GONE;
	}
	/* A TAP deleted under its fd leaves the fd detached (EBADFD); the socket in the
	 * namespace asks its kernel for the device's flags. */
	struct ifreq tun = {0};
	if (ioctl(l->tap_fd, TUNGETIFF, &tun) < 0 || ioctl(l->echo_fd, SIOCGIFFLAGS, &ifr) < 0) {
		snprintf(why, n, "the TAP %s was removed from the namespace %s (ip link del)",
			 LINK_TAP, l->netns);
		return LINK_GONE;
	}
	if (!(ifr.ifr_flags & IFF_UP)) {
		snprintf(why, n,
			 "the TAP %s in %s was set down from outside: no traffic until it is up "
			 "again (sudo ip -n %s link set %s up)",
			 LINK_TAP, l->netns, l->netns, LINK_TAP);
		return LINK_DOWN;
	}
	return LINK_UP;
}

int link_check(const char **why)
{
	if (geteuid() != 0) {
		*why = "the TAP link needs root (CAP_NET_ADMIN); run with sudo";
		return -EPERM;
	}
	if (access("/dev/net/tun", R_OK | W_OK)) {
		*why =
		    "/dev/net/tun is missing, so there is no TAP link (load it: sudo modprobe tun)";
		return -ENOENT;
	}
	return 0;
}

int link_open(struct link *l, const char **why)
{
	struct setup st = {.l = l, .err = -EIO};
	pthread_t t;

	memset(l, 0, sizeof(*l));
	l->tap_fd = l->echo_fd = l->sink_fd = l->stop_fd = l->client_fd = l->lock_fd = -1;
	int r = link_check(why);
	if (r)
		return r;
	link_reap_stale();
	take_cpus(l);
	if (mkdir(LINK_NETNS_DIR, 0755) < 0 && errno != EEXIST) {
		*why = "/run/netns could not be created";
		return -errno;
	}
	r = claim_name(l);
	if (r) {
		*why = "no free network namespace name (/run/vmscope holds 64 live claims of this "
		       "pid)";
		return r;
	}
	if (pthread_create(&t, NULL, setup_in_netns, &st))
		return -EAGAIN;
	pthread_join(t, NULL);
	if (st.err) {
		*why = st.why;
		link_close(l);
		return st.err;
	}
	l->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (l->stop_fd < 0 || pthread_create(&l->peer, NULL, peer_thread, l)) {
		*why = "the peer thread could not be started";
		link_close(l);
		return -EAGAIN;
	}
	l->peer_running = true;
	if (pthread_create(&l->driver, NULL, driver_thread, l)) {
		*why = "the peer's driver thread could not be started";
		link_close(l);
		return -EAGAIN;
	}
	l->driver_running = true;
	return 0;
}

void link_close(struct link *l)
{
	if (l->peer_running) {
		uint64_t one = 1;
		if (write(l->stop_fd, &one, sizeof(one)) < 0) {
			/* cannot fail on a fresh eventfd */
		}
		pthread_join(l->peer, NULL);
		l->peer_running = false;
	}
	if (l->driver_running) {
		pthread_join(l->driver, NULL); /* the same stop eventfd ends it */
		l->driver_running = false;
	}
	int *fds[] = {&l->tap_fd, &l->echo_fd, &l->sink_fd, &l->stop_fd, &l->client_fd};
	for (unsigned i = 0; i < 5; i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
	if (l->netns_path[0] && (!l->ns_ino || names_ours(l))) /* never one made by hand */
		remove_netns(l->netns_path);
	if (l->lock_fd >= 0) { /* the name is free again: its lock goes with the namespace */
		char lock[96];
		lock_path(lock, sizeof(lock), l->netns);
		unlink(lock);
		close(l->lock_fd);
	}
	l->lock_fd = -1;
	l->netns_path[0] = 0;
}

void link_read_counters(struct link *l, struct link_counters *out)
{
	counters_copy(out, &l->cnt, sizeof(*out));
}
