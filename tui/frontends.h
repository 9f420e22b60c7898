/* The front ends main.c chooses between; each drives a session until done and returns an exit code.
 */
#ifndef VMSCOPE_FRONTENDS_H
#define VMSCOPE_FRONTENDS_H
#include <signal.h>

#include "probes/session.h"
#include "tui/cli.h"
#include "tui/source.h"

extern volatile sig_atomic_t vmscope_quit; /* set by SIGINT/SIGTERM */

/* Both front ends draw from the source; a recording's source has no control (src->control). */
int run_headless(const struct cli *cli, struct snap_source *src);
/* --switch-every, --switch-to, for every front end: takes the plan's step due after elapsed
 * seconds, if one is. 0, or the session's refusal (-errno) with the card in *to and *why. */
int frontend_plan_step(const struct cli *cli, struct session *s, double elapsed, unsigned *done,
		       enum nic_mode *to, const char **why);
int run_dashboard(const struct cli *cli, struct snap_source *src);
/* replay --cast: the dashboard replaying src (read from path) into an asciicast v2 file. */
int run_cast(const struct cli *cli, struct snap_source *src, const char *path);

#endif
