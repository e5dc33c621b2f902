/** One Kafka message as the consumer hands it to the store, with where it was read. */
export interface KafkaRecord {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}
