import { describe, expect, it } from 'vitest';
import { tf } from './tf.js';

describe('tf runtime', () => {
  it('has gradients registered', () => {
    expect(tf.getGradient('Conv2D')).toBeDefined();
    expect(tf.getGradient('BatchMatMul')).toBeDefined();
  });
});
