/* The guided tour (vmscope demo): a script of steps, each a caption, actions on the session and a
 * duration, run by the live front ends. The script format is in tour.c and README.md. */
#ifndef VMSCOPE_TOUR_H
#define VMSCOPE_TOUR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "probes/session.h"

#define TOUR_STEPS_MAX	 20
#define TOUR_ACTIONS_MAX 4

/* NEED_NO_EMULATOR: a host whose KVM has no instruction-emulator mode of its own to show (any
 * but kvm_pvm, no KVM at all included). */
/* NEED_VMS: several VMs on the link (vmscope demo boots three). */
enum tour_need { NEED_HARDWARE = 1, NEED_PVM = 2, NEED_NO_EMULATOR = 4, NEED_VMS = 8 };
enum tour_act { TA_CPU, TA_NIC, TA_WORKLOAD, TA_SIZE, TA_NEIGHBOURS };

struct tour_action {
	enum tour_act what;
	unsigned arg;  /* cpu_mode, nic_mode, workload (the guest's, or its neighbours') or bytes */
	uint32_t kind; /* the exits workload's kind */
	uint32_t rate;
};

struct tour_step {
	char title[64];
	char caption[480];
	double seconds;
	unsigned need; /* enum tour_need bits */
	unsigned nr_act;
	struct tour_action act[TOUR_ACTIONS_MAX];
};

struct tour {
	unsigned nr;
	struct tour_step step[TOUR_STEPS_MAX];
};

extern const char tour_builtin[]; /* the lesson, compiled in */

/* Parses a script. 0, or -1 with "NAME line N: why" in err. */
int tour_parse(const char *text, const char *name, struct tour *t, char *err, size_t errlen);
int tour_load(const char *path, struct tour *t, char *err, size_t errlen);

/* The VMs vmscope demo boots: VM1 and the two neighbours its last steps need. */
#define TOUR_VMS 3

/* A tour running on a session: tour_go enters a step (skipping those the host cannot give, with
 * a note saying why), tour_poll moves on when a step's time is up. */
struct tour_run {
	const struct tour *t;
	int cur;	/* the step on screen; t->nr once the tour is over */
	double entered; /* when it was entered (the caller's clock, seconds) */
	char note[160];
};

void tour_go(struct tour_run *r, struct session *s, int step, int dir, double now);
/* True while the tour runs; moves on when the step's time is up. */
bool tour_poll(struct tour_run *r, struct session *s, double now);
/* The step on screen, for the snapshot (and so for the recording): its caption with the
 * snapshot's own figures in its placeholders. */
void tour_fill(const struct tour_run *r, struct snapshot *snap);
/* A caption template with every {NAME} replaced by that figure of s ("-" where s has none). */
void tour_caption(const char *tmpl, const struct snapshot *s, char *out, size_t n);

#endif
