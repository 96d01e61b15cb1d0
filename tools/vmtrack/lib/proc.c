// SPDX-License-Identifier: LGPL-2.1
/*
 * Target processes: /proc/PID/maps, process_madvise() in batches, freezing,
 * the checks of a target; mounting tracefs where it is not mounted.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/**
 * vmtrack_maps_parse_line() - parse one line of /proc/PID/maps
 * @line:	"START-END PERMS OFFSET DEV INODE [NAME]"
 * @map:	filled in
 *
 * Return: 0, or -EINVAL if the line is malformed.
 */
int vmtrack_maps_parse_line(const char *line, struct vmtrack_mapping *map)
{
	unsigned long long start, end, off, inode;
	char perms[5], dev[16];
	int name_at = 0;
	const char *name;
	size_t len;

	if (sscanf(line, "%llx-%llx %4s %llx %15s %llu %n", &start, &end, perms, &off, dev,
		   &inode, &name_at) < 6 || start >= end || strlen(perms) != 4)
		return -EINVAL;
	memset(map, 0, sizeof(*map));
	map->start = start;
	map->end = end;
	map->prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
		    (perms[2] == 'x' ? PROT_EXEC : 0);
	if (perms[3] != 'p' && perms[3] != 's')
		return -EINVAL;
	map->shared = perms[3] == 's';
	name = name_at ? line + name_at : "";
	len = strcspn(name, "\n");
	len = min(len, sizeof(map->name) - 1);
	memcpy(map->name, name, len);
	map->name[len] = '\0';
	return 0;
}

/**
 * vmtrack_maps_walk() - call @fn for every mapping of a process
 * @pid:	the process
 * @fn:		callback; a non-zero return stops the walk and is returned
 * @ctx:	passed to @fn
 *
 * Return: 0, @fn's value, or a negative errno (-ESRCH: no such process,
 * -EACCES/-EPERM: not allowed, -EINVAL: unparsable line).
 */
int vmtrack_maps_walk(pid_t pid, vmtrack_mapping_fn fn, void *ctx)
{
	struct vmtrack_mapping map;
	char path[64], *line = NULL;
	size_t cap = 0;
	int ret = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (getline(&line, &cap, f) > 0) {
		ret = vmtrack_maps_parse_line(line, &map);
		if (ret)
			break;
		ret = fn(&map, ctx);
		if (ret)
			break;
	}
	free(line);
	fclose(f);
	return ret;
}

/**
 * vmtrack_mapping_watchable() - should a mapping be watched
 * @map:		the mapping
 * @all_private:	also read-only private mappings
 *
 * Private writable mappings are watched; with @all_private every private
 * mapping (a read-only one written after an mprotect() is then seen too).
 * Shared mappings cannot be watched (the kernel returns EINVAL), nor the
 * special [vvar], [vdso] and [vsyscall] mappings.
 *
 * Return: true if the mapping should be marked.
 */
bool vmtrack_mapping_watchable(const struct vmtrack_mapping *map, bool all_private)
{
	if (map->shared)
		return false;
	if (!strncmp(map->name, "[vvar", 5) || !strcmp(map->name, "[vdso]") ||
	    !strcmp(map->name, "[vsyscall]"))
		return false;
	return all_private || (map->prot & PROT_WRITE);
}

static ssize_t sys_process_madvise(int pidfd, const struct iovec *iov, size_t n, int advice)
{
	return syscall(SYS_process_madvise, pidfd, iov, n, advice, 0U);
}

/* one iovec alone, to learn its error after a short batch */
static int madvise_one(int pidfd, const struct iovec *v, size_t skip, int advice)
{
	struct iovec one = {
		.iov_base = (char *)v->iov_base + skip,
		.iov_len = v->iov_len - skip,
	};

	if (sys_process_madvise(pidfd, &one, 1, advice) < 0)
		return -errno;
	return 0;
}

/*
 * One process_madvise() call advises at most MAX_RW_COUNT bytes (2 GiB less
 * a page): import_iovec() cuts the vector there and the call succeeds with
 * what is left. A call here carries at most this much, a larger range in
 * pieces.
 */
#define MADVISE_CALL_BYTES	(1024UL * 1024 * 1024)

/* where the next call starts: a range, and the bytes of it already advised */
struct madvise_pos {
	size_t	range;
	size_t	off;
};

/*
 * The vector of one call. A few ranges (a sparse epoch's re-arm) fit on the
 * stack; more take a vector of VMTRACK_MAX_IOV from the heap, and if that
 * cannot be had, go in calls of the stack's size: slower, never an error
 * (-ENOMEM already says "holes" to the callers).
 */
#define MADVISE_STACK_IOV	32

struct madvise_vec {
	struct iovec	*piece;
	size_t		*owner;		/* the range of each piece */
	size_t		max;
	struct iovec	stack_piece[MADVISE_STACK_IOV];
	size_t		stack_owner[MADVISE_STACK_IOV];
};

static void madvise_vec_init(struct madvise_vec *v, size_t n)
{
	v->piece = v->stack_piece;
	v->owner = v->stack_owner;
	v->max = MADVISE_STACK_IOV;
	if (n <= MADVISE_STACK_IOV)
		return;
	v->piece = malloc(VMTRACK_MAX_IOV * sizeof(*v->piece));
	v->owner = malloc(VMTRACK_MAX_IOV * sizeof(*v->owner));
	if (v->piece && v->owner) {
		v->max = VMTRACK_MAX_IOV;
		return;
	}
	free(v->piece);
	free(v->owner);
	v->piece = v->stack_piece;
	v->owner = v->stack_owner;
}

static void madvise_vec_free(struct madvise_vec *v)
{
	if (v->piece != v->stack_piece) {
		free(v->piece);
		free(v->owner);
	}
}

/* the pieces of the next call into @v, the range of each with it */
static size_t madvise_pieces(const struct iovec *iov, size_t n, struct madvise_pos *next,
			     struct madvise_vec *v, size_t *total)
{
	struct iovec *piece = v->piece;
	size_t *owner = v->owner;
	size_t np = 0, left, len;

	*total = 0;
	while (next->range < n && np < v->max && *total < MADVISE_CALL_BYTES) {
		left = iov[next->range].iov_len - next->off;
		len = min(left, MADVISE_CALL_BYTES - *total);
		piece[np].iov_base = (char *)iov[next->range].iov_base + next->off;
		piece[np].iov_len = len;
		owner[np++] = next->range;
		*total += len;
		if (len == left) {
			next->range++;
			next->off = 0;
		} else {
			next->off += len;
		}
	}
	return np;
}

/**
 * vmtrack_madvise() - process_madvise() over any number of ranges
 * @pidfd:	pidfd of the target
 * @iov:	the ranges
 * @n:		number of ranges
 * @advice:	MADV_WATCH or MADV_UNWATCH
 * @done:	receives the index of the first range that failed, or @n
 *
 * Calls process_madvise() with up to VMTRACK_MAX_IOV ranges and 1 GiB at a
 * time, a larger range in pieces. On an error, the caller may skip range
 * *@done and call again with the rest.
 *
 * Return: 0, or the negative errno of range *@done (-ENOMEM: the range has
 * holes, unmapped meanwhile, its mapped parts were processed, up to the
 * piece that failed; -EINVAL: unsupported mapping or kernel without
 * MADV_WATCH; -EPERM; -ESRCH: target gone).
 */
int vmtrack_madvise(int pidfd, const struct iovec *iov, size_t n, int advice, size_t *done)
{
	struct madvise_pos at = { 0, 0 }, next;
	size_t np, k, total, skip, *owner;
	struct madvise_vec vec;
	struct iovec *piece;
	int err = 0;
	ssize_t ret;

	madvise_vec_init(&vec, n);
	piece = vec.piece;
	owner = vec.owner;
	while (at.range < n) {
		next = at;
		np = madvise_pieces(iov, n, &next, &vec, &total);
		ret = sys_process_madvise(pidfd, piece, np, advice);
		if (ret >= 0 && (size_t)ret == total) {
			at = next;
			continue;
		}
		if (ret < 0)
			ret = 0;
		/* find the piece the kernel stopped at and learn why */
		for (k = 0; k < np - 1 && (size_t)ret >= piece[k].iov_len; k++)
			ret -= piece[k].iov_len;
		skip = (size_t)ret < piece[k].iov_len ? (size_t)ret : piece[k].iov_len;
		err = madvise_one(pidfd, &piece[k], skip, advice);
		if (err) {
			if (done)
				*done = owner[k];
			goto out;
		}
		/* advised when asked alone: go on after it */
		at.range = owner[k];
		at.off = (char *)piece[k].iov_base + piece[k].iov_len -
			 (char *)iov[at.range].iov_base;
		if (at.off == iov[at.range].iov_len) {
			at.range++;
			at.off = 0;
		}
	}
	if (done)
		*done = n;
out:
	madvise_vec_free(&vec);
	return err;
}

/* ---- target and tracefs checks ---- */

#define PF_KTHREAD	0x00200000	/* include/linux/sched.h */

/* state, flags and name from /proc/PID/stat; -ESRCH if there is no PID */
static int read_stat(pid_t pid, char *state, unsigned long *flags, char *comm, size_t len)
{
	char path[64], buf[1024], *open, *close;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	open = strchr(buf, '(');
	close = strrchr(buf, ')');
	/* after the name: state ppid pgrp session tty_nr tpgid flags */
	if (!open || !close || close < open ||
	    sscanf(close + 1, " %c %*d %*d %*d %*d %*d %lu", state, flags) != 2)
		return -EINVAL;
	n = min((size_t)(close - open - 1), len - 1);
	memcpy(comm, open + 1, n);
	comm[n] = '\0';
	return 0;
}

/**
 * vmtrack_status_field() - a number field of /proc/PID/status
 * @pid:	the process or thread
 * @key:	the field's name without its colon ("Tgid", "PPid", "TracerPid")
 *
 * Return: the field's value, or -1 if the file or the field cannot be read
 * (the process is gone).
 */
long vmtrack_status_field(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t len = strlen(key);
	long val = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, len) && line[len] == ':') {
			val = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return val;
}

/**
 * vmtrack_target_check() - can this pid be watched at all
 * @pid:	the process
 * @err:	receives a one-line reason, may be NULL
 * @errlen:	size of @err
 *
 * Tells apart the targets that have no user memory of their own to watch,
 * each with its own message: a pid that does not exist, a kernel thread, a
 * thread id that is not the id of its process (the thread group leader), a
 * zombie, a process whose main thread exited while others run on (the
 * pidfd, /proc/PID and process_vm_readv() of its pid reach no memory).
 * Privileges are not checked here (the kernel does, at the mark).
 *
 * Return: 0, -ESRCH (no such process, zombie, main thread gone) or -EINVAL
 * (kernel thread, thread id, invalid pid).
 */
int vmtrack_target_check(pid_t pid, char *err, size_t errlen)
{
	char state, comm[64];
	unsigned long flags;
	long threads;
	pid_t tgid;
	int ret;

	if (pid <= 0) {
		set_err(err, errlen, "invalid pid %d", (int)pid);
		return -EINVAL;
	}
	ret = read_stat(pid, &state, &flags, comm, sizeof(comm));
	if (ret == -ESRCH) {
		set_err(err, errlen, "pid %d: no such process", (int)pid);
		return ret;
	}
	if (ret) {
		set_err(err, errlen, "pid %d: cannot read /proc/%d/stat: %s", (int)pid, (int)pid,
			strerror(-ret));
		return ret;
	}
	if (flags & PF_KTHREAD) {
		set_err(err, errlen, "pid %d (%s) is a kernel thread: it has no user memory "
			"to watch", (int)pid, comm);
		return -EINVAL;
	}
	/* a thread id has a directory there too */
	tgid = vmtrack_status_field(pid, "Tgid");
	if (tgid > 0 && tgid != pid) {
		set_err(err, errlen, "pid %d (%s) is a thread of process %d: watch the process, "
			"pid %d, which watches all its threads", (int)pid, comm, (int)tgid,
			(int)tgid);
		return -EINVAL;
	}
	if (state == 'Z' || state == 'X') {
		threads = vmtrack_status_field(pid, "Threads");
		if (threads > 1)
			set_err(err, errlen, "pid %d (%s): its main thread has exited while %ld "
				"other thread%s run%s on, and vmtrack reaches a process's "
				"memory through its main thread: not supported", (int)pid, comm,
				threads - 1, threads > 2 ? "s" : "", threads > 2 ? "" : "s");
		else
			set_err(err, errlen, "pid %d (%s) is a zombie: it has exited and has no "
				"memory left to watch", (int)pid, comm);
		return -ESRCH;
	}
	return 0;
}

/*
 * tracefs that the library mounted, and how many sessions use it: the last
 * one to close unmounts it, so that a system that had no tracefs mounted
 * is left as it was.
 */
static pthread_mutex_t tracefs_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int tracefs_users;

static bool tracefs_mounted(void)
{
	char *line = NULL;
	bool found = false;
	size_t cap = 0;
	FILE *f;

	f = fopen("/proc/self/mounts", "re");
	if (!f)
		return true;	/* cannot tell: leave it to libtracefs */
	while (!found && getline(&line, &cap, f) > 0) {
		char type[32];

		found = sscanf(line, "%*s %*s %31s", type) == 1 && !strcmp(type, "tracefs");
	}
	free(line);
	fclose(f);
	return found;
}

/**
 * vmtrack_tracefs_get() - make sure tracefs is mounted
 * @ours:	receives whether this call counts as a user of a tracefs the
 *		library mounted (then call vmtrack_tracefs_put() once)
 *
 * Mounts tracefs on VMTRACK_TRACEFS_MNT if it is mounted nowhere (libtracefs
 * would mount it too, but never unmount it).
 *
 * Return: 0, -EPERM if it is not mounted and mounting needs privileges this
 * process lacks, or the negative errno of mount().
 */
int vmtrack_tracefs_get(bool *ours)
{
	int ret = 0;

	*ours = false;
	pthread_mutex_lock(&tracefs_lock);
	if (tracefs_users) {
		tracefs_users++;
		*ours = true;
	} else if (!tracefs_mounted()) {
		if (mount("nodev", VMTRACK_TRACEFS_MNT, "tracefs", 0, NULL)) {
			ret = errno == EACCES ? -EPERM : -errno;
		} else {
			tracefs_users = 1;
			*ours = true;
		}
	}
	pthread_mutex_unlock(&tracefs_lock);
	return ret;
}

/**
 * vmtrack_tracefs_put() - drop a use of the tracefs the library mounted
 *
 * The last use unmounts it. If something else uses it by then (umount
 * fails with EBUSY), it stays mounted for that user.
 */
void vmtrack_tracefs_put(void)
{
	pthread_mutex_lock(&tracefs_lock);
	if (tracefs_users && !--tracefs_users)
		umount(VMTRACK_TRACEFS_MNT);
	pthread_mutex_unlock(&tracefs_lock);
}
