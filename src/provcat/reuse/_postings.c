/* Compiled passes of the candidate stage (provcat.reuse.postings, provcat.reuse.word_file).

   The candidate stage reads a few thousand words' rows and counts some 200,000 postings per
   look-up. In NumPy each step of it is a pass over a whole array, a temporary made for the
   next, and a call's overhead; these few loops do the steps that were most of its time in
   one pass each, with the GIL released (look-ups run in threads); and `stage` does the
   whole stage through a postings file, up to the images to count, in one call (the Python
   between the passes had become the largest part of it). provcat.reuse.compiled
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

/* What a damaged row of a postings file raises (ValueError). */
#define DAMAGED_ROW "a word's count is negative or its images lie outside the ids"

/* Checks a postings file's arrays against each other: `words` (int32), `fence` (int32, every
   2 ** fence_bits-th word), `counts` (int32, one per word), `starts` (int64, one more).
   Sets the words' and the fence's lengths; -1 with an error set where they do not fit. */
static int
file_of(Py_buffer *words, Py_buffer *fence, int fence_bits, Py_buffer *counts, Py_buffer *starts,
        Py_ssize_t *count, Py_ssize_t *fences)
{
    Py_ssize_t counts_count, starts_count;
    if (elements(words, 4, "words", count) < 0 || elements(fence, 4, "fence", fences) < 0
        || elements(counts, 4, "counts", &counts_count) < 0
        || elements(starts, 8, "starts", &starts_count) < 0)
        return -1;
    if (counts_count != *count || starts_count != *count + 1) {
        PyErr_SetString(PyExc_ValueError, "counts and starts do not match the words");
        return -1;
    }
    if (fence_bits < 0 || fence_bits > 30) {
        PyErr_SetString(PyExc_ValueError, "fence_bits must be between 0 and 30");
        return -1;
    }
    const Py_ssize_t page_size = (Py_ssize_t)1 << fence_bits;
    if (*fences != (*count + page_size - 1) / page_size) {
        PyErr_SetString(PyExc_ValueError, "the fence does not match the words");
        return -1;
    }
    return 0;
}

/* The rows of `keys` (int64, ascending) in a postings file (provcat.reuse.word_file): its
   `words` (int32, ascending, distinct; `count` of them), `fence` (every 2 ** fence_bits-th
   word; `fences` of them), `word_counts` (int32, one per word) and `starts` (int64, one more
   than the words), and how many ids it stores (`stored`: a row whose images lie outside them
   is damaged). For each key: `at`, the index of the first word not less than it (clamped to
   the last word), `hit`, whether that word is the key, and where it is, its count of images
   and where its images start and how many are kept (`found_counts`, `found_starts`,
   `found_lengths`, 0 where it is not). Returns 1 where a row found is damaged, else 0. Runs
   without the GIL.

   The keys come sorted, so each one's page (of 2 ** fence_bits words) is found by galloping
   on from the last key's; within the page the word's place is guessed by interpolating
   between the page's first word and the next page's (the words are hashes, spread evenly
   within a table) and corrected by galloping. A key's guessed word is asked of memory
   AHEAD keys before it is searched for, and its row's count and start AHEAD keys before
   they are read: in a file of 90 million words nearly every key's page misses the caches,
   and the misses of several keys then overlap. */
static int
locate_keys(const int32_t *words, Py_ssize_t count, const int32_t *fence, Py_ssize_t fences,
            int fence_bits, const int32_t *word_counts, const int64_t *starts, Py_ssize_t stored,
            const int64_t *keys, Py_ssize_t keys_count, int64_t *at, uint8_t *hit,
            int64_t *found_counts, int64_t *found_starts, int64_t *found_lengths)
{
    const Py_ssize_t page_size = (Py_ssize_t)1 << fence_bits;
    int bad = 0;
    if (count == 0) {
        for (Py_ssize_t k = 0; k < keys_count; k++) {
            at[k] = hit[k] = 0;
            found_counts[k] = found_starts[k] = found_lengths[k] = 0;
        }
        return 0;
    }
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
    return bad;
}

/* locate_keys for Python: locate(words, fence, fence_bits, counts, starts, stored, keys, at,
   hit, found_counts, found_starts, found_lengths), the outputs one item per key; a damaged
   row raises ValueError. */
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
    Py_ssize_t count, fences, keys_count, at_count, found_counts_count, found_starts_count,
        found_lengths_count;
    if (file_of(&words_view, &fence_view, fence_bits, &counts_view, &starts_view, &count,
                &fences) < 0
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
    {
        int bad;
        Py_BEGIN_ALLOW_THREADS
        bad = locate_keys(words_view.buf, count, fence_view.buf, fences, fence_bits,
                          counts_view.buf, starts_view.buf, stored, keys_view.buf, keys_count,
                          at_view.buf, hit_view.buf, found_counts_view.buf, found_starts_view.buf,
                          found_lengths_view.buf);
        Py_END_ALLOW_THREADS
        if (bad) {
            PyErr_SetString(PyExc_ValueError, DAMAGED_ROW);
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

/* With four tables, table t's key takes bits t, t + 4, t + 8, ... of a descriptor: of each
   byte (bits numbered from the most significant, as np.unpackbits does), its bits t and
   t + 4, as the key's next two. FOUR_TABLES[byte] holds those two bits for each table,
   table t's at bits 2t and 2t + 1; filled when the module is imported. */
static uint8_t FOUR_TABLES[256];

static void
fill_four_tables(void)
{
    for (int byte = 0; byte < 256; byte++) {
        uint8_t spread = 0;
        for (int t = 0; t < 4; t++)
            spread |= (uint8_t)(((byte >> (7 - t) & 1) | (byte >> (3 - t) & 1) << 1) << 2 * t);
        FOUR_TABLES[byte] = spread;
    }
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
        if (tables == 4) {
            /* Four tables (as provcat's): each byte gives two bits to each table's key,
               read from one table for all four (FOUR_TABLES). */
            const int bytes = (long_bits + 1) / 2;
            const uint64_t long_mask = ((uint64_t)1 << long_bits) - 1;
            for (Py_ssize_t r = 0; r < rows; r++) {
                const uint8_t *row = descriptors + r * width;
                uint64_t keys[4] = {0, 0, 0, 0};
                for (int b = 0; b < bytes; b++) {
                    const uint64_t spread = FOUR_TABLES[row[b]];
                    keys[0] |= (spread & 3) << 2 * b;
                    keys[1] |= (spread >> 2 & 3) << 2 * b;
                    keys[2] |= (spread >> 4 & 3) << 2 * b;
                    keys[3] |= (spread >> 6 & 3) << 2 * b;
                }
                for (int t = 0; t < 4; t++) {
                    const uint64_t key = keys[t] & long_mask;
                    const Py_ssize_t cell = r * 4 + t;
                    shorts[cell] = (int64_t)(key & short_mask) + ((int64_t)t << bits);
                    longs[cell] = (int64_t)(key * golden >> (64 - long_key_bits)) + long_base
                                  + ((int64_t)t << long_key_bits);
                }
            }
        }
        for (Py_ssize_t r = 0; r < rows && tables != 4; r++) {
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

/* The first place in `listed[from:size]` (ascending) whose value is not less than `value`,
   galloping on from `from`: values asked in ascending order cost a few steps each. */
static Py_ssize_t
gallop(const int64_t *listed, Py_ssize_t size, Py_ssize_t from, int64_t value)
{
    Py_ssize_t low = from, step = 1;
    while (low + step - 1 < size && listed[low + step - 1] < value) {
        low += step;
        step <<= 1;
    }
    Py_ssize_t high = low + step - 1 < size ? low + step - 1 : size;
    while (low < high) {
        const Py_ssize_t middle = low + (high - low) / 2;
        if (listed[middle] < value)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
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
            place = gallop(listed, size, place, value);
            found[k] = place < size && listed[place] == value;
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

/* A tally's `counts` (int32, space x queries) and one int64 per query in `per_query`: the
   space, or -1 with an error set where the shapes do not fit. */
static Py_ssize_t
columns_of(Py_buffer *counts, Py_buffer *per_query, Py_ssize_t *queries)
{
    Py_ssize_t cells;
    if (elements(counts, 4, "counts", &cells) < 0 || elements(per_query, 8, "per query", queries) < 0)
        return -1;
    if (*queries < 1 || *queries > 62 || cells % *queries != 0) {
        PyErr_SetString(PyExc_ValueError, "counts must be space x queries, 1 to 62 of them");
        return -1;
    }
    return cells / *queries;
}

/* Each query's histogram of a tally's `counts` (int32, space x queries), in one pass:
   `histograms` (int64, queries x width, zeroed) gains one at [query, count]; a count above
   its query's `most` (int64, one per query, below width) is an error. */
static PyObject *
spread(PyObject *self, PyObject *args)
{
    Py_buffer counts_view, most_view, histograms_view;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*w*", &counts_view, &most_view, &histograms_view))
        return NULL;
    Py_ssize_t queries, cells;
    const Py_ssize_t space = columns_of(&counts_view, &most_view, &queries);
    if (space < 0 || elements(&histograms_view, 8, "histograms", &cells) < 0)
        goto done;
    const Py_ssize_t width = cells / queries;
    const int64_t *most = most_view.buf;
    for (Py_ssize_t q = 0; q < queries; q++)
        if (most[q] < 0 || most[q] >= width || cells % queries != 0) {
            PyErr_SetString(PyExc_ValueError, "histograms must be queries x (most + 1) or wider");
            goto done;
        }
    {
        const int32_t *counts = counts_view.buf;
        int64_t *histograms = histograms_view.buf;
        int32_t bad = -1;
        Py_ssize_t bad_query = 0;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t q = 0; q < queries && bad == -1; q++) {
            const int32_t *column = counts + q;
            const int64_t top = most[q];
            int64_t *histogram = histograms + q * width;
            for (Py_ssize_t slot = 0; slot < space; slot++) {
                const int32_t count = column[slot * queries];
                if (count < 0 || count > top) {
                    bad = count;
                    bad_query = q;
                    break;
                }
                histogram[count] += 1;
            }
        }
        Py_END_ALLOW_THREADS
        if (bad != -1) {
            PyErr_Format(PyExc_ValueError, "a count of %d lies outside query %zd's histogram of %lld",
                         bad, bad_query, (long long)most[bad_query] + 1);
            goto done;
        }
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&counts_view);
    PyBuffer_Release(&most_view);
    PyBuffer_Release(&histograms_view);
    return result;
}

/* For each query, the slots whose count in `counts` (int32, space x queries) is at least its
   `least` (int64, one per query), ascending, in one pass: query q's go to `found` (int64)
   from `offsets[q]` to `offsets[q + 1]` (int64, one more than the queries), which must be
   exactly as many. */
static PyObject *
holding(PyObject *self, PyObject *args)
{
    Py_buffer counts_view, least_view, offsets_view, found_view;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*w*", &counts_view, &least_view, &offsets_view, &found_view))
        return NULL;
    Py_ssize_t queries, size, offsets_count;
    const Py_ssize_t space = columns_of(&counts_view, &least_view, &queries);
    if (space < 0 || elements(&found_view, 8, "found", &size) < 0
        || elements(&offsets_view, 8, "offsets", &offsets_count) < 0)
        goto done;
    const int64_t *offsets = offsets_view.buf;
    if (offsets_count != queries + 1 || offsets[0] != 0 || offsets[queries] != size) {
        PyErr_SetString(PyExc_ValueError, "offsets must run from 0 to the found, one per query and one");
        goto done;
    }
    for (Py_ssize_t q = 0; q < queries; q++)
        if (offsets[q + 1] < offsets[q]) {
            PyErr_SetString(PyExc_ValueError, "offsets must not decrease");
            goto done;
        }
    {
        const int32_t *counts = counts_view.buf;
        const int64_t *least = least_view.buf;
        int64_t *found = found_view.buf;
        int64_t taken[62];
        for (Py_ssize_t q = 0; q < queries; q++)
            taken[q] = offsets[q];
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t slot = 0; slot < space; slot++) {
            for (Py_ssize_t q = 0; q < queries; q++) {
                if (counts[slot * queries + q] >= least[q]) {
                    if (taken[q] < offsets[q + 1])
                        found[taken[q]] = slot;
                    taken[q]++;
                }
            }
        }
        Py_END_ALLOW_THREADS
        for (Py_ssize_t q = 0; q < queries; q++)
            if (taken[q] != offsets[q + 1]) {
                PyErr_Format(PyExc_ValueError, "%lld slots hold %lld or more for query %zd, not %lld",
                             (long long)(taken[q] - offsets[q]), (long long)least[q], q,
                             (long long)(offsets[q + 1] - offsets[q]));
                goto done;
            }
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&counts_view);
    PyBuffer_Release(&least_view);
    PyBuffer_Release(&offsets_view);
    PyBuffer_Release(&found_view);
    return result;
}

/* -- the whole candidate stage through a postings file ------------------------------------ */

/* Sorts `n` keys (below 2 ** key_bits) with their `payload` (int32, or NULL), by a least
   significant digit radix sort, 11 bits a pass, through `keys_spare` and `payload_spare`
   (as long): a look-up's few thousand words in a few linear passes. Stable. */
static void
radix_sort(uint64_t *keys, int32_t *payload, uint64_t *keys_spare, int32_t *payload_spare,
           Py_ssize_t n, int key_bits)
{
    uint64_t *from_keys = keys, *to_keys = keys_spare;
    int32_t *from_payload = payload, *to_payload = payload_spare;
    Py_ssize_t places[2048];
    for (int shift = 0; shift < key_bits; shift += 11) {
        memset(places, 0, sizeof places);
        for (Py_ssize_t i = 0; i < n; i++)
            places[from_keys[i] >> shift & 2047]++;
        Py_ssize_t total = 0;
        for (int digit = 0; digit < 2048; digit++) {
            const Py_ssize_t here = places[digit];
            places[digit] = total;
            total += here;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            const Py_ssize_t to = places[from_keys[i] >> shift & 2047]++;
            to_keys[to] = from_keys[i];
            if (payload)
                to_payload[to] = from_payload[i];
        }
        uint64_t *keys_swap = from_keys;
        from_keys = to_keys;
        to_keys = keys_swap;
        int32_t *payload_swap = from_payload;
        from_payload = to_payload;
        to_payload = payload_swap;
    }
    if (from_keys != keys) {
        memcpy(keys, from_keys, (size_t)n * sizeof *keys);
        if (payload)
            memcpy(payload, from_payload, (size_t)n * sizeof *payload);
    }
}

/* Bits needed to hold `value` (not negative). */
static int
bits_of(uint64_t value)
{
    int bits = 0;
    while (value) {
        bits++;
        value >>= 1;
    }
    return bits;
}

/* The distinct values of sorted `values` (int64 held in uint64), in place; their number. */
static Py_ssize_t
distinct_in_place(uint64_t *values, Py_ssize_t n)
{
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (kept == 0 || values[i] != values[kept - 1])
            values[kept++] = values[i];
    return kept;
}

/* The union of two ascending, distinct lists into `into`; its size. */
static Py_ssize_t
union_of(const int64_t *a, Py_ssize_t a_size, const int64_t *b, Py_ssize_t b_size, int64_t *into)
{
    Py_ssize_t i = 0, j = 0, n = 0;
    while (i < a_size && j < b_size) {
        if (a[i] < b[j])
            into[n++] = a[i++];
        else if (b[j] < a[i])
            into[n++] = b[j++];
        else {
            into[n++] = a[i++];
            j++;
        }
    }
    while (i < a_size)
        into[n++] = a[i++];
    while (j < b_size)
        into[n++] = b[j++];
    return n;
}

/* As gallop, for int32 values (a delta run's words). */
static Py_ssize_t
gallop32(const int32_t *listed, Py_ssize_t size, Py_ssize_t from, int64_t value)
{
    Py_ssize_t low = from, step = 1;
    while (low + step - 1 < size && (int64_t)listed[low + step - 1] < value) {
        low += step;
        step <<= 1;
    }
    Py_ssize_t high = low + step - 1 < size ? low + step - 1 : size;
    while (low < high) {
        const Py_ssize_t middle = low + (high - low) / 2;
        if ((int64_t)listed[middle] < value)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

/* A postings file, the images stored since it (their (word, image) pairs' words in sorted
   runs), the look-up's record of stop words, and the look-up's own state as it reads. */
typedef struct {
    const int32_t *words, *fence, *word_counts;
    const int64_t *starts;
    Py_ssize_t count, fences, stored;
    int fence_bits;
    int runs;
    const int32_t **run_words;
    Py_ssize_t *run_sizes;
    const int64_t *indexed, *met; /* the record: read from the table, and learnt */
    Py_ssize_t indexed_size, met_size;
    int64_t most, stop_max;
    /* The words asked for so far and those that turned out to be stop words, ascending,
       distinct; each with a spare of its capacity to make the next union in. */
    int64_t *asked, *asked_spare, *stopped, *stopped_spare;
    Py_ssize_t asked_size, stopped_size;
    /* The rows read that count (not stop words): word, images posting it, where its images
       lie in the file and in each run (runs x capacity, row by row within a run). */
    int64_t *row_words, *row_counts, *row_starts, *row_lengths, *row_run_firsts, *row_run_counts;
    Py_ssize_t rows, capacity;
    int64_t *learned; /* words more than stop_max images post, met */
    Py_ssize_t learned_size;
    /* Scratch for one read (of at most `capacity` keys). */
    int64_t *at, *found_counts, *found_starts, *found_lengths, *run_firsts, *run_counts, *adding;
    uint8_t *hit;
    int bad;
} Reading;

/* An ascending, distinct list (`*items`, `*size` of them) gains the `count` ascending,
   distinct values of `added`: their union is made in `*spare` (as large as the list may
   grow), which then takes the list's place. */
static void
add_to(int64_t **items, Py_ssize_t *size, int64_t **spare, const int64_t *added,
       Py_ssize_t count)
{
    *size = union_of(*items, *size, added, count, *spare);
    int64_t *swap = *items;
    *items = *spare;
    *spare = swap;
}

/* `stopped` gains the `size` ascending, distinct words of `added`. */
static void
stop(Reading *r, const int64_t *added, Py_ssize_t size)
{
    add_to(&r->stopped, &r->stopped_size, &r->stopped_spare, added, size);
}

/* provcat.reuse.postings.votes's mark(): of `wanted` (ascending, distinct), those not asked
   for yet, less those the record of stop words knows (which join `stopped`), into `into`;
   all of them join `asked`. Their number. */
static Py_ssize_t
mark_new(Reading *r, const int64_t *wanted, Py_ssize_t size, int64_t *into)
{
    Py_ssize_t fresh = 0, place = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        place = gallop(r->asked, r->asked_size, place, wanted[i]);
        if (!(place < r->asked_size && r->asked[place] == wanted[i]))
            into[fresh++] = wanted[i];
    }
    add_to(&r->asked, &r->asked_size, &r->asked_spare, into, fresh);
    if (!r->indexed_size && !r->met_size)
        return fresh;
    Py_ssize_t kept = 0, known = 0, in_indexed = 0, in_met = 0;
    for (Py_ssize_t i = 0; i < fresh; i++) {
        const int64_t word = into[i];
        in_indexed = gallop(r->indexed, r->indexed_size, in_indexed, word);
        in_met = gallop(r->met, r->met_size, in_met, word);
        if ((in_indexed < r->indexed_size && r->indexed[in_indexed] == word)
            || (in_met < r->met_size && r->met[in_met] == word))
            r->adding[known++] = word;
        else
            into[kept++] = word;
    }
    stop(r, r->adding, known);
    return kept;
}

/* provcat.reuse.postings.votes's read() through the file: the rows of `keys` (ascending,
   distinct), their counts the file's and the runs' together; the rows of stop words
   join `stopped` (and `learned`, past stop_max), the others are listed. */
static void
read_rows(Reading *r, const int64_t *keys, Py_ssize_t size)
{
    if (!size)
        return;
    if (locate_keys(r->words, r->count, r->fence, r->fences, r->fence_bits, r->word_counts,
                    r->starts, r->stored, keys, size, r->at, r->hit, r->found_counts,
                    r->found_starts, r->found_lengths)) {
        r->bad = 1;
        return;
    }
    for (int run = 0; run < r->runs; run++) {
        const int32_t *words = r->run_words[run];
        const Py_ssize_t run_size = r->run_sizes[run];
        Py_ssize_t place = 0;
        for (Py_ssize_t k = 0; k < size; k++) {
            place = gallop32(words, run_size, place, keys[k]);
            Py_ssize_t end = place;
            while (end < run_size && (int64_t)words[end] == keys[k])
                end++;
            r->run_firsts[run * size + k] = place;
            r->run_counts[run * size + k] = end - place;
            place = end;
        }
    }
    Py_ssize_t stops = 0;
    for (Py_ssize_t k = 0; k < size; k++) {
        int64_t images = r->hit[k] ? r->found_counts[k] : 0;
        int64_t in_runs = 0;
        for (int run = 0; run < r->runs; run++)
            in_runs += r->run_counts[run * size + k];
        if (!r->hit[k] && !in_runs)
            continue;
        images += in_runs;
        if (images > r->stop_max)
            r->learned[r->learned_size++] = keys[k];
        if (images > r->most) {
            r->adding[stops++] = keys[k];
            continue;
        }
        const Py_ssize_t row = r->rows++;
        r->row_words[row] = keys[k];
        r->row_counts[row] = images;
        r->row_starts[row] = r->hit[k] ? r->found_starts[k] : 0;
        r->row_lengths[row] = r->hit[k] ? r->found_lengths[k] : 0;
        for (int run = 0; run < r->runs; run++) {
            r->row_run_firsts[run * r->capacity + row] = r->run_firsts[run * size + k];
            r->row_run_counts[run * r->capacity + row] = r->run_counts[run * size + k];
        }
    }
    stop(r, r->adding, stops);
}

/* Memory a pass takes for its work and gives back at its end, all at once. */
typedef struct {
    void *blocks[64];
    int taken;
    int failed;
} Scratch;

static void *
take(Scratch *scratch, Py_ssize_t items, size_t size)
{
    if (scratch->taken == 64) {
        scratch->failed = 1;
        return NULL;
    }
    void *block = PyMem_RawMalloc((size_t)(items > 0 ? items : 1) * size);
    if (block == NULL)
        scratch->failed = 1;
    else
        scratch->blocks[scratch->taken++] = block;
    return block;
}

static void
give_back(Scratch *scratch)
{
    for (int i = 0; i < scratch->taken; i++)
        PyMem_RawFree(scratch->blocks[i]);
    scratch->taken = 0;
}

/* The long words (ascending, distinct) of a query's descriptors whose short word in that
   table is now a stop word, into `into` (with `spare` as long for the sort); their number.
   `own` are the query's distinct short words, `own_of` each entry's place among them. */
static Py_ssize_t
fallback_of(Reading *r, const int64_t *longs, Py_ssize_t entries, const int64_t *own,
            Py_ssize_t own_size, const int32_t *own_of, uint8_t *own_stopped, int64_t *into,
            int64_t *spare, int key_bits)
{
    Py_ssize_t place = 0;
    for (Py_ssize_t j = 0; j < own_size; j++) {
        place = gallop(r->stopped, r->stopped_size, place, own[j]);
        own_stopped[j] = place < r->stopped_size && r->stopped[place] == own[j];
    }
    Py_ssize_t taken = 0;
    for (Py_ssize_t i = 0; i < entries; i++)
        if (own_stopped[own_of[i]])
            into[taken++] = longs[i];
    radix_sort((uint64_t *)into, NULL, (uint64_t *)spare, NULL, taken, key_bits);
    return distinct_in_place((uint64_t *)into, taken);
}

/* The candidate stage of provcat.reuse.postings.votes through a postings file, up to the
   images to count: every query's words, marked against the words asked and the record of
   stop words, read in the file and the runs of images stored since, stop words' long words
   read where their short words are stop words, and the rows that count chosen, the rarest
   first within the budget. See provcat.reuse.compiled.stage. */
static PyObject *
stage(PyObject *self, PyObject *args)
{
    PyObject *shorts_object, *longs_object, *runs_object;
    Py_buffer words_view, fence_view, counts_view, starts_view, indexed_view, met_view,
        out_counts_view, out_patterns_view, out_starts_view, out_lengths_view,
        out_run_firsts_view, out_run_counts_view, out_learned_view;
    int fence_bits;
    Py_ssize_t stored;
    long long most, stop_max, budget;
    if (!PyArg_ParseTuple(args, "OOy*y*iy*y*nOy*y*LLLw*w*w*w*w*w*w*", &shorts_object,
                          &longs_object, &words_view, &fence_view, &fence_bits, &counts_view,
                          &starts_view, &stored, &runs_object, &indexed_view, &met_view, &most,
                          &stop_max, &budget, &out_counts_view, &out_patterns_view,
                          &out_starts_view, &out_lengths_view, &out_run_firsts_view,
                          &out_run_counts_view, &out_learned_view))
        return NULL;
    PyObject *result = NULL;
    PyObject *shorts = NULL, *longs = NULL, *runs = NULL;
    Py_buffer views[2 * 62 + 64];
    int acquired = 0;
    Scratch scratch = {{0}, 0, 0};
    Py_ssize_t count, fences, queries = 0, run_count = 0;
    if (file_of(&words_view, &fence_view, fence_bits, &counts_view, &starts_view, &count,
                &fences) < 0)
        goto done;
    shorts = PySequence_Fast(shorts_object, "shorts must be a sequence");
    longs = shorts ? PySequence_Fast(longs_object, "longs must be a sequence") : NULL;
    runs = longs ? PySequence_Fast(runs_object, "runs must be a sequence") : NULL;
    if (!runs)
        goto done;
    queries = PySequence_Fast_GET_SIZE(shorts);
    run_count = PySequence_Fast_GET_SIZE(runs);
    if (queries < 1 || queries > 62 || PySequence_Fast_GET_SIZE(longs) != queries) {
        PyErr_SetString(PyExc_ValueError, "between 1 and 62 queries, each with short and long words");
        goto done;
    }
    if (run_count > 64) {
        PyErr_SetString(PyExc_ValueError, "at most 64 runs");
        goto done;
    }
    for (Py_ssize_t q = 0; q < 2 * queries + run_count; q++) {
        PyObject *item = q < queries ? PySequence_Fast_GET_ITEM(shorts, q)
                         : q < 2 * queries ? PySequence_Fast_GET_ITEM(longs, q - queries)
                                           : PySequence_Fast_GET_ITEM(runs, q - 2 * queries);
        if (PyObject_GetBuffer(item, &views[q], PyBUF_C_CONTIGUOUS) < 0)
            goto done;
        acquired++;
        const Py_ssize_t size = q < 2 * queries ? 8 : 4;
        if (views[q].len % size != 0) {
            PyErr_SetString(PyExc_ValueError, "words must be int64 and runs' words int32");
            goto done;
        }
    }
    Py_ssize_t capacity = 0;
    for (Py_ssize_t q = 0; q < queries; q++) {
        if (views[q].len != views[queries + q].len) {
            PyErr_SetString(PyExc_ValueError, "a query's short and long words differ in number");
            goto done;
        }
        const Py_ssize_t entries = views[q].len / 8;
        capacity += 2 * entries;
    }
    Py_ssize_t indexed_size, met_size, out_counts_size, out_patterns_size, out_starts_size,
        out_lengths_size, out_run_firsts_size, out_run_counts_size, out_learned_size;
    if (elements(&indexed_view, 8, "indexed", &indexed_size) < 0
        || elements(&met_view, 8, "met", &met_size) < 0
        || elements(&out_counts_view, 8, "counts", &out_counts_size) < 0
        || elements(&out_patterns_view, 8, "patterns", &out_patterns_size) < 0
        || elements(&out_starts_view, 8, "starts", &out_starts_size) < 0
        || elements(&out_lengths_view, 8, "lengths", &out_lengths_size) < 0
        || elements(&out_run_firsts_view, 8, "run_firsts", &out_run_firsts_size) < 0
        || elements(&out_run_counts_view, 8, "run_counts", &out_run_counts_size) < 0
        || elements(&out_learned_view, 8, "learned", &out_learned_size) < 0)
        goto done;
    if (out_counts_size != capacity || out_patterns_size != capacity || out_starts_size != capacity
        || out_lengths_size != capacity || out_learned_size != capacity
        || out_run_firsts_size != run_count * capacity
        || out_run_counts_size != run_count * capacity) {
        PyErr_Format(PyExc_ValueError, "outputs must hold %zd items (runs x %zd for the runs')",
                     capacity, capacity);
        goto done;
    }
    /* Words are hashes below 2 ** 31 (int32 in the file): others cannot be there, and the
       sorts below rely on it. */
    for (Py_ssize_t q = 0; q < 2 * queries; q++) {
        const int64_t *values = views[q].buf;
        for (Py_ssize_t i = 0; i < views[q].len / 8; i++)
            if (values[i] < 0 || values[i] > INT32_MAX) {
                PyErr_SetString(PyExc_ValueError, "a word lies outside 0 .. 2 ** 31 - 1");
                goto done;
            }
    }
    Reading r = {0};
    r.words = words_view.buf;
    r.fence = fence_view.buf;
    r.word_counts = counts_view.buf;
    r.starts = starts_view.buf;
    r.count = count;
    r.fences = fences;
    r.fence_bits = fence_bits;
    r.stored = stored;
    r.runs = (int)run_count;
    r.indexed = indexed_view.buf;
    r.indexed_size = indexed_size;
    r.met = met_view.buf;
    r.met_size = met_size;
    r.most = most;
    r.stop_max = stop_max;
    r.capacity = capacity;
    r.learned = out_learned_view.buf;
    const int32_t *run_words[64];
    Py_ssize_t run_sizes[64];
    for (Py_ssize_t run = 0; run < run_count; run++) {
        run_words[run] = views[2 * queries + run].buf;
        run_sizes[run] = views[2 * queries + run].len / 4;
    }
    r.run_words = run_words;
    r.run_sizes = run_sizes;
    /* Every query's words are read together: which words a look-up reads, and so its
       answer, do not depend on the order they are asked in (a word is read once, and is a
       stop word or not whichever query asks for it), and two reads of some thousands of
       words each keep more of the memory's misses in flight than four smaller ones. */
    const Py_ssize_t entries_all = capacity / 2;
    Py_ssize_t entries_most = 0;
    for (Py_ssize_t q = 0; q < queries; q++)
        entries_most = views[q].len / 8 > entries_most ? views[q].len / 8 : entries_most;
    r.asked = take(&scratch, capacity, 8);
    r.asked_spare = take(&scratch, capacity, 8);
    r.stopped = take(&scratch, capacity, 8);
    r.stopped_spare = take(&scratch, capacity, 8);
    r.row_words = take(&scratch, capacity, 8);
    r.row_counts = take(&scratch, capacity, 8);
    r.row_starts = take(&scratch, capacity, 8);
    r.row_lengths = take(&scratch, capacity, 8);
    r.row_run_firsts = take(&scratch, run_count * capacity, 8);
    r.row_run_counts = take(&scratch, run_count * capacity, 8);
    r.at = take(&scratch, capacity, 8);
    r.found_counts = take(&scratch, capacity, 8);
    r.found_starts = take(&scratch, capacity, 8);
    r.found_lengths = take(&scratch, capacity, 8);
    r.run_firsts = take(&scratch, run_count * capacity, 8);
    r.run_counts = take(&scratch, run_count * capacity, 8);
    r.adding = take(&scratch, capacity, 8);
    r.hit = take(&scratch, capacity, 1);
    int64_t *sorted = take(&scratch, capacity, 8);
    int64_t *sorted_spare = take(&scratch, capacity, 8);
    int32_t *payload = take(&scratch, capacity, 4);
    int32_t *payload_spare = take(&scratch, capacity, 4);
    int64_t *owns = take(&scratch, entries_all, 8); /* each query's distinct short words */
    int32_t *own_of = take(&scratch, entries_all, 4); /* each entry's place among them */
    uint8_t *own_stopped = take(&scratch, entries_most, 1);
    int64_t *fallback = take(&scratch, entries_most, 8);
    int64_t *gathered = take(&scratch, capacity, 8); /* a union over the queries */
    int64_t *gathered_spare = take(&scratch, capacity, 8);
    int64_t *first = take(&scratch, capacity, 8);
    int64_t *second = take(&scratch, capacity, 8);
    int64_t *both = take(&scratch, capacity, 8);
    int64_t *sets = take(&scratch, capacity, 8); /* each query's words, one after another */
    Py_ssize_t set_starts[63], own_starts[63], entry_starts[63];
    if (scratch.failed) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t chosen = 0;
    Py_BEGIN_ALLOW_THREADS
    /* Each query's distinct short words, and each entry's place among them; and the union
       of them all. */
    own_starts[0] = entry_starts[0] = set_starts[0] = 0;
    Py_ssize_t gathered_size = 0;
    for (Py_ssize_t q = 0; q < queries; q++) {
        const int64_t *short_words = views[q].buf;
        const Py_ssize_t entries = views[q].len / 8;
        entry_starts[q + 1] = entry_starts[q] + entries;
        for (Py_ssize_t i = 0; i < entries; i++) {
            sorted[i] = short_words[i];
            payload[i] = (int32_t)i;
        }
        radix_sort((uint64_t *)sorted, payload, (uint64_t *)sorted_spare, payload_spare, entries, 31);
        int64_t *own = owns + own_starts[q];
        int32_t *places = own_of + entry_starts[q];
        Py_ssize_t own_size = 0;
        for (Py_ssize_t i = 0; i < entries; i++) {
            if (own_size == 0 || own[own_size - 1] != sorted[i])
                own[own_size++] = sorted[i];
            places[payload[i]] = (int32_t)(own_size - 1);
        }
        own_starts[q + 1] = own_starts[q] + own_size;
        add_to(&gathered, &gathered_size, &gathered_spare, own, own_size);
    }
    /* The short words, with the long words of those the record knows are stop words, in
       one read; then the long words of those that read found to be. */
    const Py_ssize_t first_size = mark_new(&r, gathered, gathered_size, first);
    for (int pass = 0; pass < 2 && !r.bad; pass++) {
        gathered_size = 0;
        for (Py_ssize_t q = 0; q < queries; q++) {
            const int64_t *own = owns + own_starts[q];
            const Py_ssize_t own_size = own_starts[q + 1] - own_starts[q];
            const Py_ssize_t fallback_size = fallback_of(
                &r, views[queries + q].buf, entry_starts[q + 1] - entry_starts[q], own, own_size,
                own_of + entry_starts[q], own_stopped, fallback, sorted_spare, 31);
            if (pass == 1)
                set_starts[q + 1] = set_starts[q] + union_of(own, own_size, fallback,
                                                             fallback_size, sets + set_starts[q]);
            add_to(&gathered, &gathered_size, &gathered_spare, fallback, fallback_size);
        }
        const Py_ssize_t second_size = mark_new(&r, gathered, gathered_size, second);
        if (pass == 0)
            read_rows(&r, both, union_of(first, first_size, second, second_size, both));
        else
            read_rows(&r, second, second_size);
    }
    if (!r.bad && r.rows) {
        /* The rows that count, the rarest first (ties by word), as many as the budget
           holds; each with the queries that hold its word. */
        uint64_t largest = 0;
        for (Py_ssize_t row = 0; row < r.rows; row++) {
            const uint64_t key = (uint64_t)r.row_counts[row] << 31 | (uint64_t)r.row_words[row];
            sorted[row] = (int64_t)key;
            payload[row] = (int32_t)row;
            largest = key > largest ? key : largest;
        }
        radix_sort((uint64_t *)sorted, payload, (uint64_t *)sorted_spare, payload_spare, r.rows,
                   bits_of(largest));
        int64_t *out_counts = out_counts_view.buf, *out_patterns = out_patterns_view.buf,
                *out_starts = out_starts_view.buf, *out_lengths = out_lengths_view.buf,
                *out_run_firsts = out_run_firsts_view.buf, *out_run_counts = out_run_counts_view.buf;
        int64_t spent = 0;
        for (; chosen < r.rows; chosen++) {
            const Py_ssize_t row = payload[chosen];
            spent += r.row_counts[row];
            if (spent > budget)
                break;
            out_counts[chosen] = r.row_counts[row];
            out_patterns[chosen] = 0;
            out_starts[chosen] = r.row_starts[row];
            out_lengths[chosen] = r.row_lengths[row];
            for (Py_ssize_t run = 0; run < run_count; run++) {
                out_run_firsts[run * capacity + chosen] = r.row_run_firsts[run * capacity + row];
                out_run_counts[run * capacity + chosen] = r.row_run_counts[run * capacity + row];
            }
        }
        /* The queries that hold each chosen row's word: the rows in word order, walked
           beside each query's words. */
        for (Py_ssize_t i = 0; i < chosen; i++) {
            sorted[i] = r.row_words[payload[i]];
            payload[i] = (int32_t)i;
        }
        radix_sort((uint64_t *)sorted, payload, (uint64_t *)sorted_spare, payload_spare, chosen, 31);
        for (Py_ssize_t q = 0; q < queries; q++) {
            const int64_t *set = sets + set_starts[q];
            const Py_ssize_t set_size = set_starts[q + 1] - set_starts[q];
            Py_ssize_t place = 0;
            for (Py_ssize_t i = 0; i < chosen && place < set_size; i++) {
                while (place < set_size && set[place] < sorted[i])
                    place++;
                if (place < set_size && set[place] == sorted[i])
                    out_patterns[payload[i]] |= (int64_t)1 << q;
            }
        }
    }
    Py_END_ALLOW_THREADS
    if (r.bad) {
        PyErr_SetString(PyExc_ValueError, DAMAGED_ROW);
        goto done;
    }
    result = Py_BuildValue("(nn)", chosen, r.learned_size);
done:
    give_back(&scratch);
    for (int i = 0; i < acquired; i++)
        PyBuffer_Release(&views[i]);
    Py_XDECREF(shorts);
    Py_XDECREF(longs);
    Py_XDECREF(runs);
    PyBuffer_Release(&words_view);
    PyBuffer_Release(&fence_view);
    PyBuffer_Release(&counts_view);
    PyBuffer_Release(&starts_view);
    PyBuffer_Release(&indexed_view);
    PyBuffer_Release(&met_view);
    PyBuffer_Release(&out_counts_view);
    PyBuffer_Release(&out_patterns_view);
    PyBuffer_Release(&out_starts_view);
    PyBuffer_Release(&out_lengths_view);
    PyBuffer_Release(&out_run_firsts_view);
    PyBuffer_Release(&out_run_counts_view);
    PyBuffer_Release(&out_learned_view);
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
    {"spread", spread, METH_VARARGS, "spread(counts, most, histograms)"},
    {"holding", holding, METH_VARARGS, "holding(counts, least, offsets, found)"},
    {"pairs", pairs, METH_VARARGS,
     "pairs(descriptors, width, tables, bits, long_bits, long_key_bits, long_base, golden, "
     "short, long)"},
    {"stage", stage, METH_VARARGS,
     "stage(shorts, longs, words, fence, fence_bits, counts, starts, stored, runs, indexed, met, "
     "most, stop_max, budget, counts, patterns, starts, lengths, run_firsts, run_counts, "
     "learned) -> (chosen, learned)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_postings",
    "Compiled passes of the candidate stage; use provcat.reuse.compiled.", -1, methods,
};

PyMODINIT_FUNC
PyInit__postings(void)
{
    fill_four_tables();
    return PyModule_Create(&module);
}
