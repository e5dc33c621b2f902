// Store order: every stored row's id is (batch number << BATCH_BITS) + its position in the batch,
// so id order is batch order, then position. Ids stay below 2^53 for 2^33 batches: plain numbers.
export const BATCH_BITS = 20;
export const BATCH_SPAN = 2 ** BATCH_BITS;
