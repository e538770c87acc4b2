with

raw_orders as (

    select * from {{ source('sandbox', 'raw_orders') }}

),

-- An order is delivered again in a later batch when its status changes
-- (placed -> shipped -> completed). The latest delivery is the order's current state.
deliveries_ranked as (

    select
        *,
        row_number() over (
            partition by order_id
            order by batch_date desc
        ) as delivery_rank

    from raw_orders

),

final as (

    select
        cast(order_id as bigint) as order_id,
        cast(customer_id as bigint) as customer_id,
        cast(order_date as date) as order_date,
        cast(status as varchar) as status,
        cast(amount as decimal(12, 2)) as amount,
        cast(batch_date as date) as batch_date

    from deliveries_ranked
    where delivery_rank = 1

)

select * from final
