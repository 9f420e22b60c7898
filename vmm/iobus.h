/* Port I/O and MMIO dispatch: devices register the ranges they trap; the vCPU loop only dispatches.
 */
#ifndef VMSCOPE_IOBUS_H
#define VMSCOPE_IOBUS_H
#include <stdbool.h>
#include <stdint.h>

enum io_space { IO_PIO, IO_MMIO };

/* addr is relative to the registered base. Returns 0, or -errno for an access the device refuses.
 */
typedef int (*io_handler_fn)(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque);

#define IOBUS_MAX_RANGES 64

struct io_range {
	enum io_space space;
	uint64_t base, len;
	io_handler_fn fn;
	void *opaque;
};

struct iobus {
	struct io_range ranges[IOBUS_MAX_RANGES];
	unsigned nr;
};

int iobus_register(struct iobus *bus, enum io_space space, uint64_t base, uint64_t len,
		   io_handler_fn fn, void *opaque);
/* Removes the range registered at exactly (space, base); -ENOENT if there is none. */
int iobus_unregister(struct iobus *bus, enum io_space space, uint64_t base);
/* -ENOENT if nobody claims the address; reads then return all ones (as on a real bus). */
int iobus_dispatch(struct iobus *bus, enum io_space space, uint64_t addr, void *data, uint32_t len,
		   bool is_write);

#endif
