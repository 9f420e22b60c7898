/* The guest's background task: its own stack, switched to and from by task_switch (start.S). */
#define VMSCOPE_GUEST
#include "task.h"
#include "cpu.h"

#define TASK_STACK 16384

void task_switch(u64 *save_sp, u64 next_sp); /* start.S */
void task_entry(void);			     /* start.S: calls task_body() */

static u8 stack[TASK_STACK] __attribute__((aligned(16)));
static u64 main_sp, task_sp, slice_start, slice_len;
static void (*task_fn)(void *);
static void *task_arg;
static int live;
int task_inside;

/* The task's first frame (start.S): returns into task_entry with a 16-byte aligned stack. */
void task_body(void);
void task_body(void)
{
	task_fn(task_arg);
	live = 0;
	task_inside = 0;
	task_switch(&task_sp, main_sp);
	for (;;) /* never resumed: task_step() does not switch to a finished task */
		cpu_relax();
}

int task_start(void (*fn)(void *), void *arg, u64 slice)
{
	if (live)
		return -1;
	u64 *top = (u64 *)(stack + TASK_STACK);
	*--top = 0;		  /* keeps task_entry's frame 16-byte aligned */
	*--top = (u64)task_entry; /* task_switch's ret */
	for (int i = 0; i < 6; i++)
		*--top = 0; /* rbp rbx r12-r15, popped by task_switch */
	task_sp = (u64)top;
	task_fn = fn;
	task_arg = arg;
	slice_len = slice;
	live = 1;
	return 0;
}

int task_live(void)
{
	return live;
}

int task_step(void)
{
	if (!live)
		return -1;
	slice_start = rdtsc();
	task_inside = 1;
	task_switch(&main_sp, task_sp);
	task_inside = 0;
	return live;
}

void task_yield_due(void)
{
	if (rdtsc() - slice_start < slice_len)
		return;
	task_inside = 0;
	task_switch(&task_sp, main_sp);
	task_inside = 1;
}
