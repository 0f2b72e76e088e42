/* Compiled passes of the candidate stage (provcat.reuse.postings, provcat.reuse.word_file).

   The candidate stage reads a few thousand words' rows and counts some 200,000 postings per
   look-up. In NumPy each step of it is a pass over a whole array, a temporary made for the
   next, and a call's overhead; these few loops do the steps that were most of its time in
   one pass each, with the GIL released (look-ups run in threads). provcat.reuse.fast
   wraps them, checks their arguments' types and shapes, and says what each computes; the
   NumPy code they replace stays there as the reference the tests compare them with.

   Arrays come in through the buffer protocol (C-contiguous, of the element type each
   function names), so nothing here needs NumPy's headers to build. Every index read from an
   array is checked before it is used: a corrupt postings file raises ValueError, it never
   reads or writes out of bounds. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* A buffer argument of `count` elements of `size` bytes each, or an error naming it. */
static int
elements(Py_buffer *view, Py_ssize_t size, const char *name, Py_ssize_t *count)
{
    if (view->len % size != 0) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes is not a whole number of %zd-byte items",
                     name, view->len, size);
        return -1;
    }
    *count = view->len / size;
    return 0;
}

/* Keys a pass works ahead of the one it finishes: the memory each needs is asked for this
   many keys (or rows) before it is read, so that the misses overlap instead of following
   one another. */
#define AHEAD 8

/* The first index in [low, high) whose word is not less than `key` (high if none), from a
   guess in that range: galloping from the guess, then halving. */
static Py_ssize_t
first_not_less(const int32_t *words, Py_ssize_t low, Py_ssize_t high, Py_ssize_t guess, int64_t key)
{
    if (guess < low)
        guess = low;
    if (guess >= high)
        guess = high - 1;
    if (low >= high)
        return high;
    if ((int64_t)words[guess] < key) {
        /* The answer is after the guess: step 1, 2, 4, ... until a word is not less. */
        Py_ssize_t step = 1, before = guess;
        while (before + step < high && (int64_t)words[before + step] < key) {
            before += step;
            step <<= 1;
        }
        low = before + 1;
        high = before + step < high ? before + step : high;
    } else {
        Py_ssize_t step = 1, after = guess;
        while (after - step >= low && (int64_t)words[after - step] >= key) {
            after -= step;
            step <<= 1;
        }
        high = after;
        low = after - step + 1 > low ? after - step + 1 : low;
    }
    while (low < high) {
        Py_ssize_t middle = low + (high - low) / 2;
        if ((int64_t)words[middle] < key)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

/* The rows of `keys` (int64, ascending) in a postings file (provcat.reuse.word_file): its
   `words` (int32, ascending, distinct), `fence` (every 2 ** fence_bits-th word), `counts`
   (int32, one per word) and `starts` (int64, one more than the words), and how many `ids`
   it stores (`stored`: a row whose images lie outside them is an error). For each key: `at`,
   the index of the first word not less than it (clamped to the last word), `hit`, whether
   that word is the key, and where it is, its count of images and where its images start
   and how many are kept (`found_counts`, `found_starts`, `found_lengths`, 0 where it is
   not).

   The keys come sorted, so each one's page (of 2 ** fence_bits words) is found by galloping
   on from the last key's; within the page the word's place is guessed by interpolating
   between the page's first word and the next page's (the words are hashes, spread evenly
   within a table) and corrected by galloping. A key's guessed word is asked of memory
   AHEAD keys before it is searched for, and its row's count and start AHEAD keys before
   they are read: in a file of 90 million words nearly every key's page misses the caches,
   and the misses of several keys then overlap. */
static PyObject *
locate(PyObject *self, PyObject *args)
{
    Py_buffer words_view, fence_view, counts_view, starts_view, keys_view, at_view, hit_view,
        found_counts_view, found_starts_view, found_lengths_view;
    int fence_bits;
    Py_ssize_t stored;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*iy*y*ny*w*w*w*w*w*", &words_view, &fence_view, &fence_bits,
                          &counts_view, &starts_view, &stored, &keys_view, &at_view, &hit_view,
                          &found_counts_view, &found_starts_view, &found_lengths_view))
        return NULL;
    Py_ssize_t count, fences, counts_count, starts_count, keys_count, at_count, found_counts_count,
        found_starts_count, found_lengths_count;
    if (elements(&words_view, 4, "words", &count) < 0
        || elements(&fence_view, 4, "fence", &fences) < 0
        || elements(&counts_view, 4, "counts", &counts_count) < 0
        || elements(&starts_view, 8, "starts", &starts_count) < 0
        || elements(&keys_view, 8, "keys", &keys_count) < 0
        || elements(&at_view, 8, "at", &at_count) < 0
        || elements(&found_counts_view, 8, "found_counts", &found_counts_count) < 0
        || elements(&found_starts_view, 8, "found_starts", &found_starts_count) < 0
        || elements(&found_lengths_view, 8, "found_lengths", &found_lengths_count) < 0)
        goto done;
    if (at_count != keys_count || hit_view.len != keys_count || found_counts_count != keys_count
        || found_starts_count != keys_count || found_lengths_count != keys_count) {
        PyErr_SetString(PyExc_ValueError, "every output must hold one item per key");
        goto done;
    }
    if (counts_count != count || starts_count != count + 1) {
        PyErr_SetString(PyExc_ValueError, "counts and starts do not match the words");
        goto done;
    }
    if (fence_bits < 0 || fence_bits > 30) {
        PyErr_SetString(PyExc_ValueError, "fence_bits must be between 0 and 30");
        goto done;
    }
    const Py_ssize_t page_size = (Py_ssize_t)1 << fence_bits;
    if (fences != (count + page_size - 1) / page_size) {
        PyErr_SetString(PyExc_ValueError, "the fence does not match the words");
        goto done;
    }
    {
        const int32_t *words = words_view.buf;
        const int32_t *fence = fence_view.buf;
        const int32_t *word_counts = counts_view.buf;
        const int64_t *starts = starts_view.buf;
        const int64_t *keys = keys_view.buf;
        int64_t *at = at_view.buf;
        uint8_t *hit = hit_view.buf;
        int64_t *found_counts = found_counts_view.buf;
        int64_t *found_starts = found_starts_view.buf;
        int64_t *found_lengths = found_lengths_view.buf;
        int bad = 0;
        if (count == 0) {
            for (Py_ssize_t k = 0; k < keys_count; k++) {
                at[k] = hit[k] = 0;
                found_counts[k] = found_starts[k] = found_lengths[k] = 0;
            }
            goto checked;
        }
        Py_BEGIN_ALLOW_THREADS
        /* Where each of the last AHEAD keys' pages lie and its guess, in a ring. */
        Py_ssize_t page_low[AHEAD], page_high[AHEAD], guessed[AHEAD];
        Py_ssize_t page = 0;
        for (Py_ssize_t k = 0; k < keys_count + 2 * AHEAD; k++) {
            /* The steps in reverse order, so that key k's guess does not overwrite key
               k - AHEAD's, which shares its place in the ring. */
            const Py_ssize_t i = k - 2 * AHEAD;
            if (i >= 0 && i < keys_count) {
                /* The third step for key i: its row's count and images. */
                if (hit[i]) {
                    const Py_ssize_t row = at[i];
                    found_counts[i] = word_counts[row];
                    found_starts[i] = starts[row];
                    found_lengths[i] = starts[row + 1] - starts[row];
                    if (found_counts[i] < 0 || found_starts[i] < 0 || found_lengths[i] < 0
                        || found_starts[i] > stored || found_lengths[i] > stored - found_starts[i])
                        bad = 1;
                } else {
                    found_counts[i] = found_starts[i] = found_lengths[i] = 0;
                }
            }
            const Py_ssize_t j = k - AHEAD;
            if (j >= 0 && j < keys_count) {
                /* The second step for key j: its word found, its row's count and start asked. */
                const int slot = (int)(j % AHEAD);
                Py_ssize_t found = first_not_less(words, page_low[slot], page_high[slot],
                                                  guessed[slot], keys[j]);
                if (found >= count)
                    found = count - 1;
                /* Past the page: the next page's first word, above the key, or the last word. */
                at[j] = found;
                hit[j] = (int64_t)words[found] == keys[j];
                if (hit[j]) {
                    __builtin_prefetch(word_counts + found);
                    __builtin_prefetch(starts + found);
                }
            }
            if (k < keys_count) {
                /* The first step for key k: its page and guess, asked of memory. */
                const int64_t key = keys[k];
                if (k > 0 && key < keys[k - 1])
                    page = 0; /* not ascending: no harm, only slower */
                /* The last page whose first word is not above the key (the first if none). */
                Py_ssize_t step = 1, last = page;
                while (last + step < fences && (int64_t)fence[last + step] <= key) {
                    last += step;
                    step <<= 1;
                }
                Py_ssize_t low = last + 1, high = last + step < fences ? last + step : fences;
                while (low < high) {
                    Py_ssize_t middle = low + (high - low) / 2;
                    if ((int64_t)fence[middle] <= key)
                        low = middle + 1;
                    else
                        high = middle;
                }
                page = low - 1;
                const Py_ssize_t first = page * page_size;
                const Py_ssize_t end = first + page_size < count ? first + page_size : count;
                Py_ssize_t guess = first;
                if (page + 1 < fences && key > (int64_t)fence[page]) {
                    const double span = (double)fence[page + 1] - (double)fence[page];
                    guess = first + (Py_ssize_t)((double)(key - fence[page]) / span * (double)page_size);
                }
                if (guess >= end)
                    guess = end - 1;
                const int slot = (int)(k % AHEAD);
                page_low[slot] = first;
                page_high[slot] = end;
                guessed[slot] = guess;
                __builtin_prefetch(words + guess);
            }
        }
        Py_END_ALLOW_THREADS
    checked:
        if (bad) {
            PyErr_SetString(PyExc_ValueError,
                            "a word's count is negative or its images lie outside the ids");
            goto done;
        }
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&words_view);
    PyBuffer_Release(&fence_view);
    PyBuffer_Release(&counts_view);
    PyBuffer_Release(&starts_view);
    PyBuffer_Release(&keys_view);
    PyBuffer_Release(&at_view);
    PyBuffer_Release(&hit_view);
    PyBuffer_Release(&found_counts_view);
    PyBuffer_Release(&found_starts_view);
    PyBuffer_Release(&found_lengths_view);
    return result;
}

/* Checks that pieces `starts[i] .. starts[i] + lengths[i]` lie inside a store of `stored`
   items; their total, or -1 with an error set. */
static Py_ssize_t
check_pieces(const int64_t *starts, const int64_t *lengths, Py_ssize_t pieces, Py_ssize_t stored)
{
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < pieces; i++) {
        if (starts[i] < 0 || lengths[i] < 0 || starts[i] > stored || lengths[i] > stored - starts[i]) {
            PyErr_Format(PyExc_ValueError,
                         "piece %zd (%lld items from %lld) lies outside the %zd items stored", i,
                         (long long)lengths[i], (long long)starts[i], stored);
            return -1;
        }
        total += (Py_ssize_t)lengths[i];
    }
    return total;
}

/* The pieces given by three buffers: `ids` (int32, the store), `starts` and `lengths` (int64,
   one per piece). Sets how many pieces there are; returns their total, or -1 with an error
   set where the buffers do not fit together or a piece lies outside the store. */
static Py_ssize_t
pieces_of(Py_buffer *ids, Py_buffer *starts, Py_buffer *lengths, Py_ssize_t *pieces)
{
    Py_ssize_t stored, lengths_count;
    if (elements(ids, 4, "ids", &stored) < 0 || elements(starts, 8, "starts", pieces) < 0
        || elements(lengths, 8, "lengths", &lengths_count) < 0)
        return -1;
    if (lengths_count != *pieces) {
        PyErr_SetString(PyExc_ValueError, "starts and lengths differ in length");
        return -1;
    }
    return check_pieces(starts->buf, lengths->buf, *pieces, stored);
}

/* The largest image id among pieces of `ids` (int32), -1 if they hold none, and their total:
   (largest, total). A negative id is an error. */
static PyObject *
largest(PyObject *self, PyObject *args)
{
    Py_buffer ids_view, starts_view, lengths_view;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*", &ids_view, &starts_view, &lengths_view))
        return NULL;
    Py_ssize_t pieces;
    const Py_ssize_t total = pieces_of(&ids_view, &starts_view, &lengths_view, &pieces);
    if (total < 0)
        goto done;
    {
        const int32_t *ids = ids_view.buf;
        const int64_t *starts = starts_view.buf;
        const int64_t *lengths = lengths_view.buf;
        int32_t top = -1, bottom = 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < pieces; i++) {
            const int32_t *piece = ids + starts[i];
            for (int64_t j = 0; j < lengths[i]; j++) {
                const int32_t id = piece[j];
                top = id > top ? id : top;
                bottom = id < bottom ? id : bottom;
            }
        }
        Py_END_ALLOW_THREADS
        if (bottom < 0) {
            PyErr_Format(PyExc_ValueError, "a posting holds the negative image id %d", bottom);
            goto done;
        }
        result = Py_BuildValue("(in)", top, total);
    }
done:
    PyBuffer_Release(&ids_view);
    PyBuffer_Release(&starts_view);
    PyBuffer_Release(&lengths_view);
    return result;
}

/* Counts pieces of `ids` (int32) into `counts` (int32) and `scores` (float64), both
   `space` x `queries`, row-major: piece i's images each gain, for every query whose bit is
   set in patterns[i], one shared word and weights[i]. An image's row is its id, or
   slots[id] when `slots` (int32) is given. Adds to what the outputs hold. An id or slot
   outside the space is an error, and what was counted before it is left in the outputs. */
static PyObject *
tally(PyObject *self, PyObject *args)
{
    Py_buffer ids_view, starts_view, lengths_view, weights_view, patterns_view, counts_view,
        scores_view;
    Py_buffer slots_view = {0};
    PyObject *slots_object;
    int queries;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*Oiw*w*", &ids_view, &starts_view, &lengths_view,
                          &weights_view, &patterns_view, &slots_object, &queries, &counts_view,
                          &scores_view))
        return NULL;
    int have_slots = slots_object != Py_None;
    if (have_slots && PyObject_GetBuffer(slots_object, &slots_view, PyBUF_C_CONTIGUOUS) < 0) {
        have_slots = 0;
        goto done;
    }
    Py_ssize_t pieces, weights_count, patterns_count, cells, scores_cells, slot_count = 0;
    if (pieces_of(&ids_view, &starts_view, &lengths_view, &pieces) < 0
        || elements(&weights_view, 8, "weights", &weights_count) < 0
        || elements(&patterns_view, 8, "patterns", &patterns_count) < 0
        || elements(&counts_view, 4, "counts", &cells) < 0
        || elements(&scores_view, 8, "scores", &scores_cells) < 0
        || (have_slots && elements(&slots_view, 4, "slots", &slot_count) < 0))
        goto done;
    if (weights_count != pieces || patterns_count != pieces) {
        PyErr_SetString(PyExc_ValueError, "weights and patterns must hold one item per piece");
        goto done;
    }
    if (queries < 1 || queries > 62) {
        PyErr_SetString(PyExc_ValueError, "queries must be between 1 and 62");
        goto done;
    }
    if (cells != scores_cells || cells % queries != 0) {
        PyErr_SetString(PyExc_ValueError, "counts and scores must both be space x queries");
        goto done;
    }
    {
        const Py_ssize_t space = cells / queries;
        const int32_t *ids = ids_view.buf;
        const int64_t *starts = starts_view.buf;
        const int64_t *lengths = lengths_view.buf;
        const double *weights = weights_view.buf;
        const int64_t *patterns = patterns_view.buf;
        const int32_t *slots = have_slots ? slots_view.buf : NULL;
        int32_t *counts = counts_view.buf;
        double *scores = scores_view.buf;
        /* One pass: each id is checked as it is counted, and the first one outside the
           space stops the count (the caller discards what was counted). Each row's images
           are asked of memory AHEAD rows ahead: they lie all over a large file. */
        int bad = 0;
        int32_t bad_id = 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < pieces && !bad; i++) {
            if (i + AHEAD < pieces) {
                /* Every line of the row AHEAD on: a row's images are 40 on average here
                   (three lines), in a page of their own. */
                const int32_t *next = ids + starts[i + AHEAD];
                for (int64_t line = 0; line < lengths[i + AHEAD]; line += 16)
                    __builtin_prefetch(next + line);
            }
            const int32_t *piece = ids + starts[i];
            const double weight = weights[i];
            const int64_t pattern = patterns[i];
            for (int64_t j = 0; j < lengths[i]; j++) {
                const int32_t id = piece[j];
                if (id < 0 || (slots ? id >= slot_count || slots[id] < 0 || slots[id] >= space
                                     : id >= space)) {
                    bad = 1;
                    bad_id = id;
                    break;
                }
                const Py_ssize_t row = (slots ? slots[id] : id) * (Py_ssize_t)queries;
                if (pattern == 1) { /* the common case: the first query alone */
                    counts[row] += 1;
                    scores[row] += weight;
                    continue;
                }
                for (int q = 0; q < queries; q++) {
                    if (pattern >> q & 1) {
                        counts[row + q] += 1;
                        scores[row + q] += weight;
                    }
                }
            }
        }
        Py_END_ALLOW_THREADS
        if (bad) {
            PyErr_Format(PyExc_ValueError, "image id %d lies outside the %zd counted", bad_id, space);
            goto done;
        }
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&ids_view);
    PyBuffer_Release(&starts_view);
    PyBuffer_Release(&lengths_view);
    PyBuffer_Release(&weights_view);
    PyBuffer_Release(&patterns_view);
    PyBuffer_Release(&counts_view);
    PyBuffer_Release(&scores_view);
    if (have_slots)
        PyBuffer_Release(&slots_view);
    return result;
}

/* Marks in `present` (uint8, one per id) every image id among pieces of `ids` (int32). */
static PyObject *
mark(PyObject *self, PyObject *args)
{
    Py_buffer ids_view, starts_view, lengths_view, present_view;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*w*", &ids_view, &starts_view, &lengths_view, &present_view))
        return NULL;
    Py_ssize_t pieces;
    if (pieces_of(&ids_view, &starts_view, &lengths_view, &pieces) < 0)
        goto done;
    {
        const int32_t *ids = ids_view.buf;
        const int64_t *starts = starts_view.buf;
        const int64_t *lengths = lengths_view.buf;
        uint8_t *present = present_view.buf;
        const Py_ssize_t span = present_view.len;
        int bad = 0;
        int32_t bad_id = 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < pieces && !bad; i++) {
            const int32_t *piece = ids + starts[i];
            for (int64_t j = 0; j < lengths[i]; j++) {
                const int32_t id = piece[j];
                if (id < 0 || id >= span) {
                    bad = 1;
                    bad_id = id;
                    break;
                }
                present[id] = 1;
            }
        }
        Py_END_ALLOW_THREADS
        if (bad) {
            PyErr_Format(PyExc_ValueError, "image id %d lies outside the %zd marked", bad_id, span);
            goto done;
        }
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&ids_view);
    PyBuffer_Release(&starts_view);
    PyBuffer_Release(&lengths_view);
    PyBuffer_Release(&present_view);
    return result;
}

/* Each descriptor's short and long word in each table (provcat.reuse.postings.word_pairs):
   `descriptors` is N x `width` bytes; table t's key takes bits t, t + tables, t + 2 * tables,
   ... (bit 0 the first byte's most significant, as np.unpackbits orders them), the j-th as
   the key's bit j, `long_bits` of them. A short word is the key's low `bits` bits plus
   t << bits; a long word is the key times `golden` (modulo 2 ** 64), its top `long_key_bits`
   bits, plus `long_base` + t << long_key_bits. Both outputs are int64, N x tables. */
static PyObject *
pairs(PyObject *self, PyObject *args)
{
    Py_buffer descriptors_view, short_view, long_view;
    int width, tables, bits, long_bits, long_key_bits;
    long long long_base;
    unsigned long long golden;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*iiiiiLKw*w*", &descriptors_view, &width, &tables, &bits,
                          &long_bits, &long_key_bits, &long_base, &golden, &short_view, &long_view))
        return NULL;
    if (width < 1 || tables < 1 || long_bits < bits || bits < 1 || long_bits > 63
        || (Py_ssize_t)tables * long_bits > (Py_ssize_t)width * 8 || long_key_bits < 1
        || long_key_bits > 62) {
        PyErr_SetString(PyExc_ValueError, "the word rules do not fit the descriptors");
        goto done;
    }
    if (descriptors_view.len % width != 0) {
        PyErr_SetString(PyExc_ValueError, "descriptors: not a whole number of rows");
        goto done;
    }
    {
        const Py_ssize_t rows = descriptors_view.len / width;
        if (short_view.len != rows * tables * 8 || long_view.len != rows * tables * 8) {
            PyErr_SetString(PyExc_ValueError, "short and long must be int64, rows x tables");
            goto done;
        }
        const uint8_t *descriptors = descriptors_view.buf;
        int64_t *shorts = short_view.buf;
        int64_t *longs = long_view.buf;
        const uint64_t short_mask = ((uint64_t)1 << bits) - 1;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t r = 0; r < rows; r++) {
            const uint8_t *row = descriptors + r * width;
            for (int t = 0; t < tables; t++) {
                uint64_t key = 0;
                for (int j = 0; j < long_bits; j++) {
                    const int position = t + tables * j;
                    const uint64_t bit = row[position >> 3] >> (7 - (position & 7)) & 1;
                    key |= bit << j;
                }
                const Py_ssize_t cell = r * tables + t;
                shorts[cell] = (int64_t)(key & short_mask) + ((int64_t)t << bits);
                longs[cell] = (int64_t)(key * golden >> (64 - long_key_bits)) + long_base
                              + ((int64_t)t << long_key_bits);
            }
        }
        Py_END_ALLOW_THREADS
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&descriptors_view);
    PyBuffer_Release(&short_view);
    PyBuffer_Release(&long_view);
    return result;
}

/* Which of `values` (int64) are in `listed` (int64, ascending, distinct), into `found`
   (one byte each). Values in ascending order are found by galloping on from the last one's
   place (a look-up's words against its record of stop words: a few thousand against up to
   a million); values in any other order are each searched for in the whole list. */
static PyObject *
among(PyObject *self, PyObject *args)
{
    Py_buffer values_view, listed_view, found_view;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*w*", &values_view, &listed_view, &found_view))
        return NULL;
    Py_ssize_t count, size;
    if (elements(&values_view, 8, "values", &count) < 0
        || elements(&listed_view, 8, "listed", &size) < 0)
        goto done;
    if (found_view.len != count) {
        PyErr_SetString(PyExc_ValueError, "found must hold one byte per value");
        goto done;
    }
    {
        const int64_t *values = values_view.buf;
        const int64_t *listed = listed_view.buf;
        uint8_t *found = found_view.buf;
        Py_BEGIN_ALLOW_THREADS
        int ascending = 1;
        for (Py_ssize_t k = 1; k < count && ascending; k++)
            ascending = values[k - 1] <= values[k];
        Py_ssize_t place = 0; /* the first listed not less than the last value */
        for (Py_ssize_t k = 0; k < count; k++) {
            const int64_t value = values[k];
            if (!ascending) {
                /* Values in no order (the words of a descriptor matrix): a search of the
                   whole list for each, without branches to mispredict. */
                const int64_t *base = listed;
                Py_ssize_t left = size;
                while (left > 1) {
                    const Py_ssize_t half = left / 2;
                    base = base[half] < value ? base + half : base;
                    left -= half;
                }
                place = (base - listed) + (size > 0 && *base < value);
                found[k] = place < size && listed[place] == value;
                continue;
            }
            /* Gallop: the answer lies in [place, place + step]. */
            Py_ssize_t low = place, step = 1;
            while (low + step - 1 < size && listed[low + step - 1] < value) {
                low += step;
                step <<= 1;
            }
            Py_ssize_t high = low + step - 1 < size ? low + step - 1 : size;
            while (low < high) {
                Py_ssize_t middle = low + (high - low) / 2;
                if (listed[middle] < value)
                    low = middle + 1;
                else
                    high = middle;
            }
            place = low;
            found[k] = low < size && listed[low] == value;
        }
        Py_END_ALLOW_THREADS
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&values_view);
    PyBuffer_Release(&listed_view);
    PyBuffer_Release(&found_view);
    return result;
}

/* The rows of a tally's `counts` (int32, space x `queries`) whose column `query` a pass reads:
   their number, or -1 with an error set where the shapes do not fit. */
static Py_ssize_t
column_of(Py_buffer *counts, int queries, int query)
{
    Py_ssize_t cells;
    if (elements(counts, 4, "counts", &cells) < 0)
        return -1;
    if (queries < 1 || query < 0 || query >= queries || cells % queries != 0) {
        PyErr_SetString(PyExc_ValueError, "counts must be space x queries, and query one of them");
        return -1;
    }
    return cells / queries;
}

/* One query's column of a tally's `counts` (int32, space x queries): `histogram` (int64,
   zeroed, one more than the most shared words possible) gains one at each count; a count
   past its end is an error. */
static PyObject *
spread(PyObject *self, PyObject *args)
{
    Py_buffer counts_view, histogram_view;
    int queries, query;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*iiw*", &counts_view, &queries, &query, &histogram_view))
        return NULL;
    Py_ssize_t size;
    const Py_ssize_t space = column_of(&counts_view, queries, query);
    if (space < 0 || elements(&histogram_view, 8, "histogram", &size) < 0)
        goto done;
    {
        const int32_t *counts = counts_view.buf;
        int64_t *histogram = histogram_view.buf;
        int32_t bad = -1;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t slot = 0; slot < space; slot++) {
            const int32_t count = counts[slot * queries + query];
            if (count < 0 || count >= size) {
                bad = count;
                break;
            }
            histogram[count] += 1;
        }
        Py_END_ALLOW_THREADS
        if (bad != -1) {
            PyErr_Format(PyExc_ValueError, "a count of %d lies outside the histogram of %zd",
                         bad, size);
            goto done;
        }
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&counts_view);
    PyBuffer_Release(&histogram_view);
    return result;
}

/* The slots whose count for `query` in `counts` (int32, space x queries) is at least
   `least`, ascending, into `found` (int64), which must hold exactly as many. */
static PyObject *
holding(PyObject *self, PyObject *args)
{
    Py_buffer counts_view, found_view;
    int queries, query, least;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*iiiw*", &counts_view, &queries, &query, &least, &found_view))
        return NULL;
    Py_ssize_t size;
    const Py_ssize_t space = column_of(&counts_view, queries, query);
    if (space < 0 || elements(&found_view, 8, "found", &size) < 0)
        goto done;
    {
        const int32_t *counts = counts_view.buf;
        int64_t *found = found_view.buf;
        Py_ssize_t taken = 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t slot = 0; slot < space; slot++) {
            if (counts[slot * queries + query] >= least) {
                if (taken < size)
                    found[taken] = slot;
                taken++;
            }
        }
        Py_END_ALLOW_THREADS
        if (taken != size) {
            PyErr_Format(PyExc_ValueError, "%zd slots hold %d or more, not %zd", taken, least,
                         size);
            goto done;
        }
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&counts_view);
    PyBuffer_Release(&found_view);
    return result;
}

static PyMethodDef methods[] = {
    {"locate", locate, METH_VARARGS,
     "locate(words, fence, fence_bits, counts, starts, stored, keys, at, hit, found_counts, "
     "found_starts, found_lengths)"},
    {"largest", largest, METH_VARARGS, "largest(ids, starts, lengths) -> (largest id, total)"},
    {"tally", tally, METH_VARARGS,
     "tally(ids, starts, lengths, weights, patterns, slots, queries, counts, scores)"},
    {"mark", mark, METH_VARARGS, "mark(ids, starts, lengths, present)"},
    {"among", among, METH_VARARGS, "among(values, listed, found)"},
    {"spread", spread, METH_VARARGS, "spread(counts, queries, query, histogram)"},
    {"holding", holding, METH_VARARGS, "holding(counts, queries, query, least, found)"},
    {"pairs", pairs, METH_VARARGS,
     "pairs(descriptors, width, tables, bits, long_bits, long_key_bits, long_base, golden, "
     "short, long)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_postings",
    "Compiled passes of the candidate stage; use provcat.reuse.fast.", -1, methods,
};

PyMODINIT_FUNC
PyInit__postings(void)
{
    return PyModule_Create(&module);
}
