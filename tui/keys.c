/* The dashboard's keys: one table of bindings, as htop's. The footer, the help screen's KEYS and
 * a replay's refusal of a key that drives a live VM are all made from its rows. */
#include <stdio.h>
#include <string.h>

#include "tui/dash.h"
#include "tui/tour.h"
#include "vmm/clock.h"
#include "vmm/names.h"

/* The dashboard's modes. A tour is a live session with a script: live keys act there too. An
 * attached VM (vmscope attach PID) is another process's: it is watched, never driven. */
enum { IN_LIVE = 1, IN_TOUR = 2, IN_REPLAY = 4, IN_WATCH = 8, IN_ANY = 15 };

static unsigned mode_of(const struct dash *d)
{
	return d->replay	      ? IN_REPLAY
	       : d->src->attached     ? IN_WATCH
	       : d->src->tour && d->s ? IN_TOUR | IN_LIVE
				      : IN_LIVE;
}

static const uint32_t rate_ladder[] = {10, 100, 1000, 10000, 100000, 0};
#define NR_RATES (sizeof(rate_ladder) / sizeof(rate_ladder[0]))

static int act_help(struct dash *d, int ch)
{
	d->help = true;
	d->help_top = 0;
	return EV_REDRAW;
}

/* On the help screen: space, down, PgDn and j scroll on, up, PgUp, k and b back; any other key
 * closes it. */
static int help_key(struct dash *d, int ch)
{
	int page = LINES > 2 ? LINES - 2 : 1, last = d->help_lines - (LINES - 1);
	if (ch == ' ' || ch == KEY_NPAGE)
		d->help_top += page;
	else if (ch == KEY_DOWN || ch == 'j')
		d->help_top++;
	else if (ch == KEY_PPAGE || ch == 'b')
		d->help_top -= page;
	else if (ch == KEY_UP || ch == 'k')
		d->help_top--;
	else
		d->help = false;
	d->help_top = d->help_top > last ? last : d->help_top;
	d->help_top = d->help_top < 0 ? 0 : d->help_top;
	return EV_REDRAW;
}

static int act_quit(struct dash *d, int ch)
{
	return EV_QUIT;
}

static int act_tour_step(struct dash *d, int ch)
{
	struct tour_run *r = d->src->tour;
	bool back = ch != ' ';
	if (!back && r->cur >= (int)r->t->nr - 1) {
		dash_say(d,
			 "that was the tour's last step: the keys drive the VM as usual, q quits");
		return EV_REDRAW;
	}
	tour_go(r, d->s, r->cur + (back ? -1 : 1), back ? -1 : 1, mono_s());
	tour_fill(r, &d->snap); /* the caption now, the figures at the next tick */
	return EV_REDRAW;
}

static int act_replay_pause(struct dash *d, int ch)
{
	d->playing = !d->playing;
	return EV_REDRAW;
}

static int act_replay_step(struct dash *d, int ch)
{
	d->playing = false;
	if (source_tick(d->src, &d->snap))
		dash_fold(d);
	return EV_REDRAW;
}

static int act_replay_seek(struct dash *d, int ch)
{
	long step = (long)(10000 / replay_header(d->replay)->interval_ms);
	if (ch == KEY_LEFT || ch == KEY_RIGHT) {
		dash_seek(d, (long)replay_pos(d->replay) + (ch == KEY_LEFT ? -step : step));
	} else if (ch == KEY_HOME || ch == 'g') {
		dash_seek(d, 1);
	} else {
		dash_seek(d, (long)replay_count(d->replay));
		d->playing = false;
	}
	return EV_REDRAW;
}

static int act_replay_speed(struct dash *d, int ch)
{
	char text[64];
	d->speed = ch == '>' ? d->speed * 2 : d->speed / 2;
	d->speed = d->speed < 0.25 ? 0.25 : d->speed > 16 ? 16 : d->speed;
	snprintf(text, sizeof(text), "replaying at %gx", d->speed);
	dash_say(d, text);
	return EV_REDRAW;
}

static int act_kind(struct dash *d, int ch)
{
	uint32_t kind = ch == 'a' ? EK_ALL : (uint32_t)(ch - '1');
	session_set_workload(d->s, WL_EXITS, kind, d->snap.rate);
	dash_say(d, ch == 'a' ? "workload: exits of every kind in turn"
			      : "workload: exits of one kind");
	return EV_REDRAW;
}

static int act_net_workload(struct dash *d, int ch)
{
	static const struct {
		int key;
		enum workload wl;
		const char *what;
	} net_keys[] = {
	    {'n', WL_PING, "workload: the guest pings the peer"},
	    {'t', WL_TX, "workload: the guest sends UDP to the peer's sink"},
	    {'x', WL_RX, "workload: the peer floods the guest"},
	    {'o', WL_ECHO, "workload: the peer sends, the guest echoes"},
	};
	if (!d->snap.net_on) {
		dash_say(d, "no network card: start without --nic none");
		return EV_REDRAW;
	}
	for (unsigned i = 0; i < sizeof(net_keys) / sizeof(net_keys[0]); i++)
		if (net_keys[i].key == ch) {
			session_set_workload(d->s, net_keys[i].wl, 0, d->snap.rate);
			dash_say(d, net_keys[i].what);
		}
	return EV_REDRAW;
}

static int act_size(struct dash *d, int ch)
{
	uint32_t size = d->snap.pkt_size ? d->snap.pkt_size : 64;
	size = ch == ']' ? (size * 2 > 1472 ? 1472 : size * 2) : (size / 2 < 8 ? 8 : size / 2);
	session_set_packet_size(d->s, size);
	return EV_REDRAW;
}

static int act_idle(struct dash *d, int ch)
{
	session_set_workload(d->s, WL_IDLE, 0, d->snap.rate);
	dash_say(d, "workload: idle (the guest halts; the VMM sleeps)");
	return EV_REDRAW;
}

/* The next rate of the ladder up or down, for the workload and kind on screen. */
static int act_rate(struct dash *d, int ch)
{
	int dir = ch == '-' ? -1 : 1;
	unsigned i = 0;
	uint32_t rate = d->snap.rate;
	while (i < NR_RATES - 1 && rate_ladder[i] != rate && !(rate && rate_ladder[i] > rate))
		i++;
	if (dir > 0 && i < NR_RATES - 1)
		i++;
	else if (dir < 0 && i > 0)
		i--;
	enum workload wl = d->snap.workload == WL_IDLE || d->snap.workload == WL_FAULT
			       ? WL_EXITS
			       : d->snap.workload;
	uint32_t kind = d->snap.exit_kind == SNAP_NO_KIND ? EK_ALL : d->snap.exit_kind;
	session_set_workload(d->s, wl, wl == WL_EXITS ? kind : 0, rate_ladder[i]);
	return EV_REDRAW;
}

/* N: what VM1's neighbours run (--vms), idle -> tx -> rx -> both -> ping -> idle, at their
 * rate. */
static int act_neighbours(struct dash *d, int ch)
{
	const struct snap_vms *m = &d->snap.vms;
	if (session_vms(d->s) < 2) {
		dash_say(d, "one VM, no neighbours: vmscope --vms N (2 to 4) boots them");
		return EV_REDRAW;
	}
	enum workload next = neighbour_load_next(m->neighbours);
	session_set_neighbours(d->s, next, m->neighbour_rate);
	char said[96];
	snprintf(said, sizeof(said), "neighbours: %s", workload_name(next));
	dash_say(d, said);
	return EV_REDRAW;
}

static int act_pause(struct dash *d, int ch)
{
	session_pause(d->s, !session_paused(d->s));
	dash_say(d, session_paused(d->s) ? "paused: the vCPU stays out of KVM_RUN" : "resumed");
	return EV_REDRAW;
}

/* The host's own mode for the guest: what e and b go back to. */
static enum cpu_mode native_mode(enum host_kind h)
{
	return h == HOST_PVM			 ? CPU_PARAVIRT
	       : h == HOST_VTX || h == HOST_AMDV ? CPU_HARDWARE
						 : CPU_TRANSLATED;
}

/* r: the same mode again. e: the host's other KVM mode and back (kvm_pvm: KVM's emulator and
 * paravirt; VT-x/AMD-V: paravirt, KVM's PV interfaces, and hardware). b: binary translation and
 * back, on any host with KVM. */
static int act_restart(struct dash *d, int ch)
{
	const char *why;
	enum cpu_mode mode = d->snap.cpu_mode, native = native_mode(d->snap.host);
	if (ch == 'e' || ch == 'b') {
		enum cpu_mode other = ch == 'b'			 ? CPU_TRANSLATED
				      : d->snap.host == HOST_PVM ? CPU_EMULATED
								 : CPU_PARAVIRT;
		if (native == CPU_TRANSLATED) {
			dash_say(d,
				 "no KVM here: the translated CPU is the only one this host runs");
			return EV_REDRAW;
		}
		mode = mode == other ? native : other;
	}
	if (session_restart(d->s, mode, &why)) {
		dash_say(d, why);
	} else {
		char said[96];
		snprintf(said, sizeof(said), "guest restarted on the %s CPU", cpu_mode_name(mode));
		dash_say(d, said);
	}
	return EV_REDRAW; /* the restart event clears the history at the next tick */
}

static int act_switch(struct dash *d, int ch)
{
	const char *why;
	char text[200];
	enum nic_mode to = ch == 'E'		    ? NIC_MODE_EMULATED
			   : ch == 'V' || ch == 'v' ? NIC_MODE_VIRTIO
						    : NIC_MODE_VF;
	if (session_switch_nic(d->s, to, &why))
		snprintf(text, sizeof(text), "no switch to %s: %s", nic_mode_name(to), why);
	else
		snprintf(text, sizeof(text), "moving the guest to the %s card, make before break",
			 nic_mode_name(to));
	dash_say(d, text);
	return EV_REDRAW;
}

/* Every key, once. A key acts in the first row that has it for the dashboard's mode; the
 * footers show the rows marked for them, in this order. */
static const struct binding {
	const char *chars;  /* the characters that act */
	int special[3];	    /* and curses keys, 0-ended */
	unsigned acts;	    /* the modes it acts in */
	unsigned footer_in; /* the footers it shows in */
	const char *footer; /* its words there */
	const char *keys;   /* the keys, on the help screen */
	const char *help;   /* what it does, on the help screen */
	int (*act)(struct dash *d, int ch);
} bindings[] = {
    {" ", {0}, IN_TOUR, IN_TOUR, "space next", "space", "the tour's next step", act_tour_step},
    {"\b\x7f",
     {KEY_BACKSPACE},
     IN_TOUR,
     IN_TOUR,
     "backspace back",
     "backspace",
     "the step before",
     act_tour_step},
    {"?h", {KEY_F(1)}, IN_ANY, IN_ANY, "? help", "? h F1", "this help", act_help},
    {" p", {0}, IN_REPLAY, IN_REPLAY, "space pause", "space p", "pause/play", act_replay_pause},
    {".", {0}, IN_REPLAY, IN_REPLAY, ". step", ".", "one tick on", act_replay_step},
    {"",
     {KEY_LEFT, KEY_RIGHT},
     IN_REPLAY,
     IN_REPLAY,
     "<- -> 10 s",
     "<- ->",
     "10 s back or on",
     act_replay_seek},
    {"gG",
     {KEY_HOME, KEY_END},
     IN_REPLAY,
     IN_REPLAY,
     "Home End",
     "Home End g G",
     "the first or the last tick",
     act_replay_seek},
    {"<>", {0}, IN_REPLAY, IN_REPLAY, "< > speed", "< >", "speed, 1/4x to 16x", act_replay_speed},
    {"EVvFf",
     {0},
     IN_LIVE,
     IN_LIVE | IN_TOUR,
     "E V F card",
     "E V F",
     "move the running guest to the emulated, virtio or SR-IOV VF card",
     act_switch},
    {"1234567",
     {0},
     IN_LIVE,
     IN_LIVE,
     "1-7 kind",
     "1-7",
     "exits of one kind (pio_vmm pio_eventfd mmio_vmm mmio_eventfd hypercall cpuid hlt)",
     act_kind},
    {"a", {0}, IN_LIVE, IN_LIVE, "a all", "a", "every kind in turn", act_kind},
    {"n", {0}, IN_LIVE, IN_LIVE | IN_TOUR, "n ping", "n", "ping the peer", act_net_workload},
    {"t", {0}, IN_LIVE, IN_LIVE | IN_TOUR, "t tx", "t", "tx to its sink", act_net_workload},
    {"x", {0}, IN_LIVE, IN_LIVE | IN_TOUR, "x rx", "x", "rx flood from it", act_net_workload},
    {"o", {0}, IN_LIVE, IN_LIVE, "o echo", "o", "it sends, we echo", act_net_workload},
    {"i", {0}, IN_LIVE, IN_LIVE, "i idle", "i", "idle", act_idle},
    {"N",
     {0},
     IN_LIVE,
     0,
     "N neighbours",
     "N",
     "with --vms: what VM2.. run on the shared path, idle -> tx -> rx -> both -> ping",
     act_neighbours},
    {"+=-", {0}, IN_LIVE, IN_LIVE, "+/- rate", "+/-", "rate 10..100k/s, max", act_rate},
    {"[]", {0}, IN_LIVE, IN_LIVE, "[ ] size", "[ ]", "packet size", act_size},
    {"p ", {0}, IN_LIVE, IN_LIVE | IN_TOUR, "p pause", "p", "pause", act_pause},
    {"e",
     {0},
     IN_LIVE,
     IN_LIVE,
     "e other mode",
     "e",
     "the host's other KVM mode: emulated (kvm_pvm) or paravirt (VT-x/AMD-V), and back",
     act_restart},
    {"b",
     {0},
     IN_LIVE,
     IN_LIVE,
     "b translate",
     "b",
     "binary translation (the translated CPU)/native",
     act_restart},
    {"r", {0}, IN_LIVE, IN_LIVE, "r restart", "r", "restart", act_restart},
    {"qQ", {0}, IN_ANY, IN_ANY, "q quit", "q", "quit", act_quit},
};
#define NR_BINDINGS (sizeof(bindings) / sizeof(bindings[0]))

static bool binds(const struct binding *b, int ch)
{
	if (ch > 0 && ch < 0x100 && strchr(b->chars, ch))
		return true;
	for (unsigned i = 0; i < 3 && b->special[i]; i++)
		if (b->special[i] == ch)
			return true;
	return false;
}

static bool bound_in(unsigned mode, int ch)
{
	for (unsigned i = 0; i < NR_BINDINGS; i++)
		if ((bindings[i].acts & mode) && binds(&bindings[i], ch))
			return true;
	return false;
}

int keys_handle(struct dash *d, int ch)
{
	unsigned mode = mode_of(d);
	if (d->help && ch != KEY_RESIZE)
		return help_key(d, ch);
	if (ch == KEY_RESIZE)
		return EV_REDRAW;
	for (unsigned i = 0; i < NR_BINDINGS; i++)
		if ((bindings[i].acts & mode) && binds(&bindings[i], ch))
			return bindings[i].act(d, ch);
	/* A replay and an attached VM have no VM of ours to drive: a live key says so. */
	for (unsigned i = 0;
	     (mode & (IN_REPLAY | IN_WATCH)) && ch >= 0x20 && ch <= 0x7e && i < NR_BINDINGS; i++)
		if ((bindings[i].acts & IN_LIVE) && binds(&bindings[i], ch)) {
			char text[160];
			snprintf(
			    text, sizeof(text),
			    mode & IN_REPLAY
				? "'%c' drives a live VM; this is a recording (sudo vmscope "
				  "runs one)"
				: "'%c' drives vmscope's own VM; an attached VM is only watched "
				  "(sudo vmscope runs one of ours)",
			    ch);
			dash_say(d, text);
			return EV_REDRAW;
		}
	return EV_NONE;
}

void keys_draw_footer(struct dash *d)
{
	unsigned mode = mode_of(d), shown = mode & IN_TOUR ? IN_TOUR : mode;
	char line[256];
	size_t n = (size_t)snprintf(line, sizeof(line), "%s",
				    shown == IN_TOUR	 ? "TOUR  "
				    : shown == IN_REPLAY ? "REPLAY  "
				    : shown == IN_WATCH	 ? "ATTACHED  "
							 : "");
	for (unsigned i = 0; i < NR_BINDINGS && n < sizeof(line); i++)
		if (bindings[i].footer_in & shown)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s",
					      n && line[n - 1] != ' ' ? "  " : "",
					      bindings[i].footer);
	/* A lost output stays on the last line until the end (and is said again after it): a
	 * message for a moment comes before it, the keys after it. */
	const struct snap_source *src = d->src;
	bool lost = src->nr_lost > 0;
	int pair = lost ? C_BAD : C_TITLE;
	attron(COLOR_PAIR(pair) | (lost ? A_REVERSE | A_BOLD : 0));
	mvhline(LINES - 1, 0, ' ', COLS);
	if (d->msg[0] && mono_s() < d->msg_until)
		mvaddnstr(LINES - 1, 1, d->msg, COLS - 2);
	else if (lost)
		mvaddnstr(
		    LINES - 1, 1,
		    src->lost[(src->nr_lost < SOURCE_LOST_MAX ? src->nr_lost : SOURCE_LOST_MAX) -
			      1],
		    COLS - 2);
	else
		mvaddnstr(LINES - 1, 1, line, COLS - 2);
	attroff(COLOR_PAIR(pair) | (lost ? A_REVERSE | A_BOLD : 0));
}

/* What each panel's figures mean and where they come from (the KEYS above them come from the
 * bindings). Laid out for 80x24. */
static const char *const panels_help[] = {
    "PANELS (-: that source cannot see or tell apart that figure)",
    " work      a plain instruction of the guest's timed loop (fastest so far) and",
    "           the same loop on the host: what ordinary code costs in this CPU mode",
    " EXITS /s  by kind and source: guest = its own counters, vmm = the VMM's exit",
    "           loop and ioeventfds, stats = KVM's vCPU stats fd, bpf = eBPF on KVM",
    "           tracepoints; avg/min/max = the guest's TSC round trip",
    " hlt(idle) halts the guest waits in between paced ops (not the hlt kind)",
    " NETWORK   guest: what its driver sent and got; ping p50/p99 from its TSC",
    "           device: what the NIC model moved; regs: register exits the VMM saw",
    "           (traps + ioeventfd doorbells); exits by register: the e1000's",
    "           per pkt: nic = exits at the card's registers (bpf or vmm), user =",
    "           reached the VMM, all = every vCPU exit (stats fd, or bpf kvm_exit),",
    "           (all - user: handled inside KVM); irqs = interrupts; cpu: host = the",
    "           hypervisor's threads, guest = its own work, card = the VF's engine",
    "           peer: the namespace's UDP sink and echo; capture: libpcap on TAP",
    " VMS       --vms: a row per VM (its card's packets, every exit and host CPU a",
    "           packet: its vCPU and its packets' share of the network thread), what",
    "           they share (the link, VM-to-VM frames, the queue to the link, the",
    "           network thread or the VF engine), VM1's ping p99 alone/loaded by card",
    " COMPARE   each card's figures over all its ticks (> in use), per packet: nic =",
    "           the card's exits, user = exits that reached the VMM, all = every exit;",
    "           host cpu = the hypervisor's (VMM threads, vCPU outside the guest); card",
    "           cpu = the VF engine's thread, standing for silicon (not the host's)",
    " SWITCHES  the last live switches: blackout = longest gap in the guest's",
    "           traffic (capture, then vmm), lost = from sequence numbers",
    " HISTORY   one column per tick (40 lines or more); E V F mark switches",
    " SOURCES   the busiest counters of the stats fd, eBPF and the VMM; observer:",
    "           what the eBPF probes themselves cost, by the kernel's accounting",
};

/* An attached VM's panels (vmscope attach PID, or its recording). */
static const char *const attached_help[] = {
    "PANELS (-: that source cannot see or tell apart that figure)",
    " VCPUS     each vCPU's exits and halts a second (its stats fd, the VMM's own,",
    "           duplicated), and how long each exit kept it out of the guest",
    " EXIT LATENCY  the same by reason, timed in BPF since attaching: kvm_exit to",
    "           kvm_entry (VT-x, AMD-V), or a userspace exit to the next KVM_RUN",
    "           (kvm_pvm: in-kernel exits are not timed there)",
    " DEVICES   its exits by port and MMIO page, its interrupts by vector, its",
    "           halts woken after waiting or caught by halt-polling (bpf)",
    " SOURCES   the busiest counters of the stats fd and eBPF; observer: what the",
    "           eBPF probes themselves cost, against the VMM's CPU time",
};

#define HELP_WIDTH     78
#define HELP_KEY_LINES 8

/* Words flowed into lines of HELP_WIDTH, each line indented by one space. */
struct flow {
	char line[HELP_KEY_LINES][HELP_WIDTH + 1];
	unsigned nr;
	size_t len;
};

static void flow_word(struct flow *f, const char *w, size_t wlen, const char *sep)
{
	if (f->nr == 0 || f->len + strlen(sep) + wlen > HELP_WIDTH) {
		if (f->nr == HELP_KEY_LINES)
			return;
		f->nr++;
		f->len = (size_t)snprintf(f->line[f->nr - 1], HELP_WIDTH + 1, " ");
		sep = "";
	}
	f->len += (size_t)snprintf(f->line[f->nr - 1] + f->len, HELP_WIDTH + 1 - f->len, "%s%.*s",
				   sep, (int)wlen, w);
}

static void flow_text(struct flow *f, const char *text, const char *first_sep)
{
	const char *sep = first_sep;
	while (*text) {
		size_t n = strcspn(text, " ");
		if (n)
			flow_word(f, text, n, sep);
		sep = " ";
		text += n + (text[n] == ' ');
	}
}

static void help_line(int y, const char *text, bool head)
{
	if (head)
		attron(COLOR_PAIR(C_HEAD) | A_BOLD);
	mvaddnstr(y, 1, text, COLS - 2);
	if (head)
		attroff(COLOR_PAIR(C_HEAD) | A_BOLD);
}

void keys_draw_help(struct dash *d)
{
	unsigned mode = mode_of(d);
	struct flow f = {.nr = 0};
	for (unsigned i = 0; i < NR_BINDINGS; i++) {
		const struct binding *b = &bindings[i];
		if (!(b->acts & mode))
			continue;
		flow_text(&f, b->keys, f.nr ? "   " : "");
		flow_text(&f, b->help, " ");
	}
	if (mode & IN_REPLAY) { /* htop's read-only mode: the keys that need a live VM, marked */
		flow_text(&f, "(live only:", "   ");
		for (unsigned i = 0; i < NR_BINDINGS; i++)
			if (bindings[i].acts == IN_LIVE &&
			    !bound_in(IN_REPLAY, bindings[i].chars[0]))
				flow_text(&f, bindings[i].keys, " ");
		flow_text(&f, "drive a live VM)", " ");
	}
	/* Every line, then the window of them that fits above the last row. */
	_Static_assert(sizeof(attached_help) <= sizeof(panels_help), "lines[] holds either");
	const char *lines[2 + HELP_KEY_LINES + sizeof(panels_help) / sizeof(panels_help[0])];
	bool att = d->snap.attached.on;
	const char *const *help = att ? attached_help : panels_help;
	unsigned nr_help = att ? sizeof(attached_help) / sizeof(attached_help[0])
			       : sizeof(panels_help) / sizeof(panels_help[0]);
	int n = 0;
	lines[n++] = "vmscope help";
	lines[n++] = "KEYS";
	for (unsigned i = 0; i < f.nr; i++)
		lines[n++] = f.line[i];
	for (unsigned i = 0; i < nr_help; i++)
		lines[n++] = help[i];
	d->help_lines = n;
	int rows = LINES - 1, top = d->help_top > n - rows ? n - rows : d->help_top;
	top = top < 0 ? 0 : top;
	for (int y = 0; y < rows && top + y < n; y++)
		help_line(y, lines[top + y], top + y < 2 || lines[top + y][0] != ' ');
	char foot[96];
	snprintf(foot, sizeof(foot),
		 top + rows < n
		     ? "lines %d-%d of %d: space/down more, up/b back, any other key closes"
		     : "lines %d-%d of %d: up/b back, any other key closes",
		 top + 1, top + rows < n ? top + rows : n, n);
	attron(COLOR_PAIR(C_TITLE));
	mvhline(LINES - 1, 0, ' ', COLS);
	mvaddnstr(LINES - 1, 1, foot, COLS - 2);
	attroff(COLOR_PAIR(C_TITLE));
}
