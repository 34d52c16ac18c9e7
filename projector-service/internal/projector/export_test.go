package projector

import "context"

// ProjectAgain delivers every event after from up to target again into
// generation gen, whatever its checkpoint (the checkpoint never moves
// backward, so the running projector cannot be made to do it).
func (p *Projector) ProjectAgain(ctx context.Context, gen int, from, target uint64) error {
	return p.follow(ctx, gen, followOptions{untilHeadOf: true, target: target, from: &from})
}
