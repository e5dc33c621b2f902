// A created topic is not in every broker's metadata at once (KRaft propagates it): createTopic
// resolves only once the listing shows it, so a send or a join right after it finds the topic.
export async function untilListed(list: () => Promise<string[]>, topic: string, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const listed = await list().catch((): string[] => []);
    if (listed.includes(topic)) return;
    if (Date.now() > end) throw new Error(`topic ${topic} was created but is not listed after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
