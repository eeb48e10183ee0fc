/** Little-endian append-only byte buffer that grows by doubling. */
export class ByteBuilder {
  #buffer: Uint8Array;
  #view: DataView;
  #length = 0;

  constructor(initialCapacity = 1024) {
    this.#buffer = new Uint8Array(initialCapacity);
    this.#view = new DataView(this.#buffer.buffer);
  }

  get length(): number {
    return this.#length;
  }

  #reserve(bytes: number): number {
    const offset = this.#length;
    const needed = offset + bytes;
    if (needed > this.#buffer.length) {
      let capacity = this.#buffer.length * 2;
      while (capacity < needed) capacity *= 2;
      const grown = new Uint8Array(capacity);
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#length = needed;
    return offset;
  }

  // Each writer reserves before touching #view: reserving may replace the buffer and its view.
  uint8(value: number): void {
    const offset = this.#reserve(1);
    this.#view.setUint8(offset, value);
  }

  uint16(value: number): void {
    const offset = this.#reserve(2);
    this.#view.setUint16(offset, value, true);
  }

  uint32(value: number): void {
    const offset = this.#reserve(4);
    this.#view.setUint32(offset, value, true);
  }

  int32(value: number): void {
    const offset = this.#reserve(4);
    this.#view.setInt32(offset, value, true);
  }

  uint64(value: bigint): void {
    const offset = this.#reserve(8);
    this.#view.setBigUint64(offset, value, true);
  }

  float32(value: number): void {
    const offset = this.#reserve(4);
    this.#view.setFloat32(offset, value, true);
  }

  bytes(value: Uint8Array): void {
    this.#buffer.set(value, this.#reserve(value.length));
  }

  /** Zero bytes up to the next multiple of `alignment`. */
  pad(alignment: number): void {
    const remainder = this.#length % alignment;
    if (remainder !== 0) this.#reserve(alignment - remainder);
  }

  toBytes(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }
}
