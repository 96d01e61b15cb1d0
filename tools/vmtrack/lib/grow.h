/* SPDX-License-Identifier: LGPL-2.1 */
/*
 * Arrays that grow by doubling, shared by the library and the command:
 *
 *	if (GROW_ARRAY(s->r, s->alloc, s->n, 64))
 *		return -ENOMEM;
 *	s->r[s->n++] = ...;
 */
#ifndef _VMTRACK_GROW_H
#define _VMTRACK_GROW_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/**
 * grow_array() - make room for entry @nr of an array
 * @arrp:	address of the array pointer (the pointer may be NULL)
 * @alloc:	entries allocated, updated
 * @nr:		entries in use
 * @size:	bytes per entry
 * @first:	entries of the first allocation
 *
 * The pointer is read and written with memcpy(): @arrp points to a pointer
 * of any object type, not to a void pointer.
 *
 * Return: 0, or -ENOMEM with the array unchanged.
 */
static inline int grow_array(void *arrp, size_t *alloc, size_t nr, size_t size, size_t first)
{
	size_t a;
	void *old, *t;

	if (nr < *alloc)
		return 0;
	a = *alloc ? 2 * *alloc : first;
	if (a > SIZE_MAX / size)
		return -ENOMEM;
	memcpy(&old, arrp, sizeof(old));
	t = realloc(old, a * size);
	if (!t)
		return -ENOMEM;
	memcpy(arrp, &t, sizeof(t));
	*alloc = a;
	return 0;
}

#define GROW_ARRAY(arr, alloc, nr, first) \
	grow_array(&(arr), &(alloc), (nr), sizeof(*(arr)), (first))

#endif /* _VMTRACK_GROW_H */
